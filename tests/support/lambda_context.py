"""The one LambdaContext stand-in for tests: what Powertools (logger, idempotency, batch) reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LambdaContextStub:
    function_name: str = "qbosync-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:qbosync-test"
    aws_request_id: str = "req-1"
    log_group_name: str = "/aws/lambda/qbosync-test"
    log_stream_name: str = "local"
    remaining_millis: int = 120_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis
