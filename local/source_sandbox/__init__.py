"""A local implementation of the qbosync source contract, for tests and the demo."""

from local.source_sandbox.app import build_app
from local.source_sandbox.config import SandboxConfig, TenantConfig, WebhookConfig

__all__ = ["SandboxConfig", "TenantConfig", "WebhookConfig", "build_app"]
