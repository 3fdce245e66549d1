"""The Lambda invoker runs real handler modules; its moto patch makes Step Functions Lambda tasks run them."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from local.lambda_invoker import (
    EnvironmentConflict,
    HandlerError,
    LambdaInvoker,
    LocalFunction,
    install_moto_lambda_patch,
    merged_environment,
    uninstall_moto_lambda_patch,
)

HANDLER_SOURCE = textwrap.dedent(
    """
    class PageFailed(Exception):
        pass

    def lambda_handler(event, context):
        if event.get("fail"):
            raise PageFailed("page " + str(event.get("page")) + " failed")
        return {"doubled": event["value"] * 2, "function": context.function_name,
                "remaining_ms": context.get_remaining_time_in_millis()}
    """
)


def _function(code_dir: Path, name: str = "qbosync-test-Doubler", **environment: str) -> LocalFunction:
    return LocalFunction(
        logical_id=name.rsplit("-", 1)[-1],
        function_name=name,
        code_dir=code_dir,
        handler="app.lambda_handler",
        timeout=10,
        memory_size=128,
        environment=environment,
    )


@pytest.fixture
def handler_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(HANDLER_SOURCE)
    return tmp_path


def test_given_a_handler_module_when_invoked_then_it_gets_the_event_and_a_lambda_context(
    handler_dir: Path,
) -> None:
    result = LambdaInvoker([_function(handler_dir)]).invoke("Doubler", {"value": 21})
    assert result["doubled"] == 42
    assert result["function"] == "qbosync-test-Doubler"
    assert 0 < result["remaining_ms"] <= 10_000


def test_given_a_raising_handler_when_invoked_then_the_error_is_reported_as_lambda_does(
    handler_dir: Path,
) -> None:
    with pytest.raises(HandlerError) as raised:
        LambdaInvoker([_function(handler_dir)]).invoke("Doubler", {"fail": True, "page": 3})
    assert raised.value.payload()["errorType"] == "PageFailed"
    assert raised.value.payload()["errorMessage"] == "page 3 failed"


def test_given_a_handler_that_outlives_its_timeout_when_invoked_then_it_times_out_as_lambda_does(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text(
        "import threading\nrelease = threading.Event()\n"
        "def lambda_handler(event, context):\n    release.wait(60)\n    return 'late'\n"
    )
    slow = LocalFunction("Slow", "qbosync-test-Slow", tmp_path, "app.lambda_handler", 1, 128, {})
    try:
        with pytest.raises(HandlerError) as raised:
            LambdaInvoker([slow]).invoke("Slow", {})
    finally:
        sys.modules["qbosync_local_fn_Slow"].release.set()
    assert raised.value.error_type == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in raised.value.error_message


def test_given_two_modules_called_app_when_loaded_then_each_function_gets_its_own(tmp_path: Path) -> None:
    for name, answer in (("one", 1), ("two", 2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(f"def lambda_handler(event, context):\n    return {answer}\n")
    invoker = LambdaInvoker([_function(tmp_path / "one", "fn-One"), _function(tmp_path / "two", "fn-Two")])
    assert (invoker.invoke("One", {}), invoker.invoke("Two", {})) == (1, 2)


def test_given_functions_that_disagree_on_a_variable_when_merging_then_start_up_fails(tmp_path: Path) -> None:
    agreeing = [
        _function(tmp_path, "fn-A", TABLE_NAME="t"),
        _function(tmp_path, "fn-B", TABLE_NAME="t", X="1"),
    ]
    assert merged_environment(agreeing) == {"TABLE_NAME": "t", "X": "1"}
    with pytest.raises(EnvironmentConflict, match="TABLE_NAME"):
        merged_environment(
            [_function(tmp_path, "fn-A", TABLE_NAME="t"), _function(tmp_path, "fn-B", TABLE_NAME="u")]
        )


STATE_MACHINE = {
    "StartAt": "Double",
    "States": {
        "Double": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${FunctionArn}", "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "Catch": [{"ErrorEquals": ["PageFailed"], "ResultPath": "$.error", "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}


@pytest.fixture
def step_functions_with_handler(handler_dir: Path) -> Iterator[tuple[object, str]]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(
            RoleName="test-lambda",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ]
                }
            ),
        )["Role"]["Arn"]
        function_arn = boto3.client("lambda", region_name="us-east-1").create_function(
            FunctionName="qbosync-test-Doubler",
            Runtime="python3.11",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        )["FunctionArn"]
        install_moto_lambda_patch(LambdaInvoker([_function(handler_dir)]))
        try:
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            definition = json.dumps(STATE_MACHINE).replace("${FunctionArn}", function_arn)
            machine = sfn.create_state_machine(name="doubler", definition=definition, roleArn=role)
            yield sfn, machine["stateMachineArn"]
        finally:
            uninstall_moto_lambda_patch()


def _run(sfn: object, machine_arn: str, execution_input: dict[str, object]) -> dict[str, object]:
    client = sfn  # boto3 client
    execution_arn = client.start_execution(  # type: ignore[attr-defined]
        stateMachineArn=machine_arn, name=f"run-{time.monotonic_ns()}", input=json.dumps(execution_input)
    )["executionArn"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        described = client.describe_execution(executionArn=execution_arn)  # type: ignore[attr-defined]
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.05)
    raise AssertionError("the execution did not finish in 20 s")


def test_given_the_patch_when_a_task_state_calls_the_lambda_then_the_real_handler_output_is_the_result(
    step_functions_with_handler: tuple[object, str],
) -> None:
    sfn, machine_arn = step_functions_with_handler
    described = _run(sfn, machine_arn, {"value": 5})
    assert described["status"] == "SUCCEEDED"
    output = json.loads(str(described["output"]))
    assert output["doubled"] == 10
    assert output["function"] == "qbosync-test-Doubler"


def test_given_the_patch_when_the_handler_raises_then_the_task_catch_sees_its_error_type(
    step_functions_with_handler: tuple[object, str],
) -> None:
    sfn, machine_arn = step_functions_with_handler
    described = _run(sfn, machine_arn, {"fail": True, "page": 7})
    assert described["status"] == "SUCCEEDED"
    error = json.loads(str(described["output"]))["error"]
    assert error["Error"] == "PageFailed"
    assert json.loads(error["Cause"])["errorMessage"] == "page 7 failed"
