"""The source-contract test kit: ``python -m qbosync.source.kit`` or the pytest plugin
``qbosync.source.kit.pytest_plugin`` check a live source API against ``docs/source-contract.md``."""

from qbosync.source.kit.checks import KitOptions, KitReport, Verdict, run_kit
from qbosync.source.kit.inbox import WebhookInbox
from qbosync.source.kit.rules import ContractRule

__all__ = ["ContractRule", "KitOptions", "KitReport", "Verdict", "WebhookInbox", "run_kit"]
