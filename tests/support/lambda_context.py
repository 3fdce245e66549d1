"""The one LambdaContext stand-in handlers get in tests: the fields Powertools' logger reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LambdaContextStub:
    function_name: str = "qbosync-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:qbosync-test"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
