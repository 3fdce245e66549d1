"""The admin API Lambda handler: importing it does no work."""

from __future__ import annotations

import importlib


def test_given_the_handler_module_when_imported_then_no_resolver_is_built_yet() -> None:
    handler = importlib.reload(importlib.import_module("functions.api.app"))

    assert handler.resolver.cache_info().currsize == 0
