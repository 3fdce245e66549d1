"""Step Functions executions of the bulk-sync and dry-run state machines: the only place their boto3
calls live."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from qbosync.errors import QbosyncError, UpstreamUnavailable
from qbosync.settings import get_settings
from qbosync.store.aws import stepfunctions_client

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class StateMachineNotConfigured(QbosyncError):
    """The deployment names no bulk-sync state machine (``BULK_SYNC_STATE_MACHINE_ARN``)."""

    code = "state_machine_not_configured"


class ExecutionStartFailed(UpstreamUnavailable):
    code = "execution_start_failed"


class BulkSyncExecutions:
    """Starts, stops and describes executions of the bulk-sync state machine."""

    what = "the bulk sync"

    def __init__(self, state_machine_arn: str | None = None, client: SFNClient | None = None) -> None:
        self._state_machine_arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> SFNClient:
        return self._client or stepfunctions_client()

    @property
    def state_machine_arn(self) -> str:
        arn = self._state_machine_arn or get_settings().bulk_sync_state_machine_arn
        if not arn:
            raise StateMachineNotConfigured("BULK_SYNC_STATE_MACHINE_ARN is not set")
        return arn

    def start(self, name: str, execution_input: Mapping[str, Any]) -> str:
        """Start an execution called ``name`` (a second start with the same name and input is a no-op)."""
        try:
            reply = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(execution_input)
            )
        except (ClientError, BotoCoreError) as exc:
            raise ExecutionStartFailed(f"{self.what} could not be started; try again") from exc
        return reply["executionArn"]

    def status(self, execution_arn: str) -> str:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED (or PENDING_REDRIVE)."""
        try:
            return self.client.describe_execution(executionArn=execution_arn)["status"]
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamUnavailable("the bulk sync execution could not be read") from exc

    def stop(self, execution_arn: str, cause: str) -> None:
        try:
            self.client.stop_execution(executionArn=execution_arn, cause=cause[:256])
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamUnavailable("the bulk sync execution could not be stopped") from exc


class DryRunExecutions(BulkSyncExecutions):
    """Starts executions of the dry-run state machine (``DRY_RUN_STATE_MACHINE_ARN``), which plans an
    initial sync page by page."""

    what = "the dry run"

    @property
    def state_machine_arn(self) -> str:
        arn = self._state_machine_arn or get_settings().dry_run_state_machine_arn
        if not arn:
            raise StateMachineNotConfigured("DRY_RUN_STATE_MACHINE_ARN is not set")
        return arn
