"""A local QuickBooks Online: Intuit OAuth 2.0, the Accounting API v3, webhooks, limits and faults.

Run it with `python -m local.qbo_sandbox --port 0`, or in-process with
`httpx.ASGITransport(app=build_app(SandboxConfig(...)))`.
"""

from local.qbo_sandbox.app import Sandbox, build_app
from local.qbo_sandbox.config import SandboxConfig, load_config

__all__ = ["Sandbox", "SandboxConfig", "build_app", "load_config"]
