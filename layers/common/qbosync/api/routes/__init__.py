"""The admin API's routers, one per concern, each built around an ``ApiDependencies``."""
