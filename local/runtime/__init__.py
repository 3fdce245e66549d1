"""The local runtime: moto, the sandboxes, a front door, an SQS poller and a schedule ticker.

``python -m local.runtime`` runs it until Ctrl-C; ``LocalRuntime(RuntimeOptions()).start()`` does the
same from Python (tests, the demo) and returns the ``RuntimeInfo`` that READY prints.
"""

from local.runtime.runtime import LocalRuntime, RuntimeInfo, RuntimeOptions, TenantInfo

__all__ = ["LocalRuntime", "RuntimeInfo", "RuntimeOptions", "TenantInfo"]
