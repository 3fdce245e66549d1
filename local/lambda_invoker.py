"""Run the project's real Lambda handlers in this process, as Lambda would call them.

Every function's ``app.py`` is imported under its own module name (``qbosync_local_fn_<LogicalId>``),
since several functions have a module called ``app``. All functions share one process, so the union
of their environment variables goes into ``os.environ`` once; two functions that disagree on a
variable's value make that impossible, and ``merged_environment`` refuses at start-up rather than let
one of them silently read the other's value.

``install_moto_lambda_patch`` replaces moto's private ``LambdaFunction._invoke_lambda`` (moto 5.2.5,
pinned in requirements-dev.txt; covered by tests/integration/test_runtime_lambda_invoker.py) so a Step
Functions Task state that calls a Lambda ARN runs the real handler here instead of in Docker.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template_model import LOCAL_ACCOUNT_ID, LOCAL_REGION

LOGGER = logging.getLogger("local.lambda_invoker")

Handler = Callable[[Any, Any], Any]


class EnvironmentConflict(RuntimeError):
    """Two functions need different values for one variable, which one process cannot give them."""


class HandlerError(Exception):
    """The handler raised: carries what Lambda would report (errorType, errorMessage, stackTrace)."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str]) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.error_message = message
        self.stack_trace = stack_trace

    def payload(self) -> dict[str, Any]:
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "stackTrace": self.stack_trace,
        }


@dataclass
class LambdaContext:
    """The attributes of Lambda's Python context object that handlers and Powertools read."""

    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = (
            self.log_stream_name or f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        )

    @property
    def invoked_function_arn(self) -> str:
        return function_arn(self.function_name)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_arn(function_name: str) -> str:
    return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{function_name}"


@dataclass(frozen=True)
class LocalFunction:
    """One template function as this process runs it."""

    logical_id: str
    function_name: str  # the local (moto) name
    code_dir: Path
    handler: str  # module.function, as in the template
    timeout: int
    memory_size: int
    environment: Mapping[str, str]


class LambdaInvoker:
    """Imports each function's handler lazily (once) and calls it with a Lambda context."""

    def __init__(self, functions: list[LocalFunction]) -> None:
        self._functions = {function.function_name: function for function in functions}
        self._by_logical_id = {function.logical_id: function for function in functions}
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def function(self, name_or_logical_id: str) -> LocalFunction:
        found = self._functions.get(name_or_logical_id) or self._by_logical_id.get(name_or_logical_id)
        if found is None:
            raise KeyError(f"no local function is called {name_or_logical_id}")
        return found

    def knows(self, function_name: str) -> bool:
        return function_name in self._functions

    def invoke(self, name_or_logical_id: str, event: Any) -> Any:
        """Call the handler within the function's timeout, as Lambda would.

        A handler exception becomes a ``HandlerError`` carrying what Lambda reports; a handler still
        running when the timeout lapses becomes ``Sandbox.Timedout``. The late handler cannot be killed
        in-process: it runs on in its daemon thread and its result is dropped, as Lambda drops it.
        """
        function = self.function(name_or_logical_id)
        handler = self._handler(function)
        context = LambdaContext(function.function_name, function.timeout, function.memory_size)
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = handler(event, context)
            except Exception as error:
                outcome["error"] = error

        worker = threading.Thread(target=run, name=f"lambda-{function.logical_id}", daemon=True)
        worker.start()
        worker.join(function.timeout)
        if worker.is_alive():
            LOGGER.error(
                "%s timed out after %d s (request %s)",
                function.logical_id,
                function.timeout,
                context.aws_request_id,
            )
            raise HandlerError("Sandbox.Timedout", f"Task timed out after {function.timeout:.2f} seconds", [])
        if "error" in outcome:
            error = outcome["error"]
            LOGGER.error(
                "%s failed (request %s)", function.logical_id, context.aws_request_id, exc_info=error
            )
            raise HandlerError(
                type(error).__name__, str(error), traceback.format_tb(error.__traceback__)
            ) from error
        return outcome.get("result")

    def _handler(self, function: LocalFunction) -> Handler:
        with self._lock:
            if function.function_name not in self._handlers:
                self._handlers[function.function_name] = load_handler(function)
            return self._handlers[function.function_name]


def load_handler(function: LocalFunction) -> Handler:
    """Import ``<code_dir>/<module>.py`` under a name unique to the function and return the handler."""
    module_path, _, attribute = function.handler.rpartition(".")
    source = function.code_dir / (module_path.replace(".", "/") + ".py")
    if not source.is_file():
        raise FileNotFoundError(f"{function.logical_id}: handler module {source} does not exist")
    module_name = f"qbosync_local_fn_{function.logical_id}"
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {source}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise AttributeError(f"{function.logical_id}: {source} has no callable {attribute}")
    return handler  # type: ignore[no-any-return]


def merged_environment(functions: list[LocalFunction]) -> dict[str, str]:
    """The union of every function's variables; a variable two functions set differently is an error."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for function in functions:
        for name, value in function.environment.items():
            if name in merged and merged[name] != value:
                raise EnvironmentConflict(
                    f"{function.logical_id} sets {name}={value!r} but {owner[name]} sets {merged[name]!r}; "
                    "handlers share one process locally, so they must agree"
                )
            merged[name] = value
            owner.setdefault(name, function.logical_id)
    return merged


# ---------------------------------------------------------------- moto patch


class _PatchState:
    """Which invoker moto's patched Lambda calls, and moto's own method to put back."""

    invoker: LambdaInvoker | None = None
    original: Any = None


def install_moto_lambda_patch(invoker: LambdaInvoker) -> None:
    """Make moto's Lambda invoke (and so Step Functions Lambda tasks) run ``invoker``'s handlers.

    moto 5.2.5's ``LambdaFunction._invoke_lambda(self, event)`` returns ``(payload, errored, logs)``:
    ``payload`` a str, the JSON the function returned; ``errored`` True makes moto answer with
    ``X-Amz-Function-Error``, and Step Functions then takes the error name from the payload's
    ``errorType``, as with real Lambda.
    """
    from moto.awslambda.models import LambdaFunction

    _PatchState.invoker = invoker
    if _PatchState.original is None:
        _PatchState.original = LambdaFunction._invoke_lambda
        setattr(LambdaFunction, "_invoke_lambda", _invoke_in_process)  # noqa: B010 - a patch, on purpose


def uninstall_moto_lambda_patch() -> None:
    from moto.awslambda.models import LambdaFunction

    if _PatchState.original is not None:
        setattr(LambdaFunction, "_invoke_lambda", _PatchState.original)  # noqa: B010 - undoing the patch
    _PatchState.original = None
    _PatchState.invoker = None


def _invoke_in_process(self: Any, event: Any = None) -> tuple[str, bool, str]:
    invoker = _PatchState.invoker
    name = str(self.function_name)
    if invoker is None or not invoker.knows(name):
        message = f"the local runtime has no handler for Lambda function {name}"
        return json.dumps({"errorMessage": message, "errorType": "ResourceNotFound"}), True, message
    if event in (None, "", "{}"):  # moto passes the string "{}" for an empty payload
        event = {}
    try:
        result = invoker.invoke(name, event)
    except HandlerError as error:
        return json.dumps(error.payload()), True, str(error)
    return json.dumps(result, default=str), False, ""
