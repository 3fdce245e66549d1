"""The admin console's static files (HTML, CSS, JavaScript), served by ``qbosync.api.routes.console``."""
