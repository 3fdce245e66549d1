"""A local emulator of the Rev.io billing REST endpoints qbosync's Rev.io adapter uses (``docs/revio.md``)."""
