"""LocalRuntime wires a template's SQS events, schedules and state machines to in-process handlers.

A small template in a temporary directory declares one of each; its handler modules record what they
receive in files, so the tests watch effects, not internals. moto runs in server mode here, as in
``python -m local.runtime``, so the Step Functions test also covers the Lambda tasks' ``MOTO_PORT`` path.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.runtime import LocalRuntime, RuntimeInfo, RuntimeOptions

TEMPLATE = textwrap.dedent(
    """
    AWSTemplateFormatVersion: "2010-09-09"
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Stage: {Type: String, Default: dev}
      JwtIssuer: {Type: String, Default: https://auth.example.com/}
      JwtAudience: {Type: String, Default: test-admin}
    Globals:
      Function:
        Runtime: python3.11
        Timeout: 10
        Environment:
          Variables:
            TABLE_NAME: !Ref MainTable
            SECRET_PREFIX: !Sub qbosync/${Stage}
            MARKER_DIR: "{marker_dir}"
    Resources:
      MainTable:
        Type: AWS::DynamoDB::Table
        Properties:
          BillingMode: PAY_PER_REQUEST
          AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: sk, AttributeType: S}]
          KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
      # Where the runtime seals each tenant's source credentials, as the real stack does.
      SourceCredentialsKey:
        Type: AWS::KMS::Key
      SourceCredentialsKeyAlias:
        Type: AWS::KMS::Alias
        Properties:
          AliasName: !Sub alias/qbosync/${Stage}/source-credentials
          TargetKeyId: !Ref SourceCredentialsKey
      WorkDeadLetterQueue:
        Type: AWS::SQS::Queue
      WorkQueue:
        Type: AWS::SQS::Queue
        Properties:
          VisibilityTimeout: 1
          RedrivePolicy: {deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn, maxReceiveCount: 2}
      Worker:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: worker/
          Handler: app.lambda_handler
          Events:
            Work:
              Type: SQS
              Properties:
                Queue: !GetAtt WorkQueue.Arn
                BatchSize: 5
                FunctionResponseTypes: [ReportBatchItemFailures]
            Tick:
              Type: Schedule
              Properties: {Schedule: rate(1 minute), Input: '{"tick": true}'}
      Doubler:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: worker/
          Handler: app.double
      Pipeline:
        Type: AWS::Serverless::StateMachine
        Properties:
          Name: !Sub pipeline-${Stage}
          DefinitionUri: pipeline.asl.json
          DefinitionSubstitutions:
            DoublerArn: !GetAtt Doubler.Arn
          Events:
            Nightly:
              Type: ScheduleV2
              Properties: {ScheduleExpression: rate(1 minute), Input: '{"value": 50}'}
      HttpApi:
        Type: AWS::Serverless::HttpApi
        Properties:
          Auth:
            DefaultAuthorizer: AdminJwt
            Authorizers:
              AdminJwt:
                IdentitySource: $request.header.Authorization
                JwtConfiguration: {issuer: !Ref JwtIssuer, audience: [!Ref JwtAudience]}
    """
)

HANDLERS = textwrap.dedent(
    """
    import json, os, uuid
    from pathlib import Path

    def _record(kind, value):
        marker = Path(os.environ["MARKER_DIR"]) / f"{kind}-{uuid.uuid4().hex}.json"
        marker.write_text(json.dumps(value))

    def lambda_handler(event, context):
        if event.get("tick"):
            _record("tick", event)
            return None
        failures = []
        for record in event["Records"]:
            _record("message", record["body"])
            if record["body"] == "poison":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def double(event, context):
        return {"doubled": event["value"] * 2}
    """
)

PIPELINE = {
    "StartAt": "Double",
    "States": {
        "Double": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${DoublerArn}", "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "End": True,
        }
    },
}


def _write_template(directory: Path) -> tuple[Path, Path]:
    markers = directory / "markers"
    markers.mkdir()
    (directory / "worker").mkdir()
    (directory / "worker" / "app.py").write_text(HANDLERS)
    (directory / "pipeline.asl.json").write_text(json.dumps(PIPELINE))
    template = directory / "template.yaml"
    template.write_text(TEMPLATE.replace("{marker_dir}", str(markers)))
    return template, markers


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RuntimeInfo, Path]]:
    """One runtime for the module's wiring tests (their handlers use no AWS client, only files)."""
    template, markers = _write_template(tmp_path_factory.mktemp("runtime"))
    runtime = LocalRuntime(
        RuntimeOptions(template_path=template, tenants=("t-one",), schedule_speedup=120, source_customers=2)
    )
    try:
        yield runtime.start(), markers
    finally:
        runtime.stop()


def _client(info: RuntimeInfo, service: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=info.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _wait_for(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached before the deadline")


def _bodies(markers: Path, kind: str) -> list[Any]:
    return [json.loads(path.read_text()) for path in markers.glob(f"{kind}-*.json")]


def test_given_messages_on_a_template_queue_when_running_then_the_consumer_gets_them_and_poison_hits_the_dlq(
    started: tuple[RuntimeInfo, Path],
) -> None:
    info, markers = started
    sqs = _client(info, "sqs")
    for body in ("hello", "poison"):
        sqs.send_message(QueueUrl=info.queues["WorkQueue"], MessageBody=body)

    def poison_in_dlq() -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=info.queues["WorkDeadLetterQueue"], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return attributes["ApproximateNumberOfMessages"] == "1"

    _wait_for(poison_in_dlq)
    bodies = _bodies(markers, "message")
    assert bodies.count("hello") == 1
    assert bodies.count("poison") == 2


def test_given_a_state_machine_with_a_lambda_task_when_executed_then_the_real_handler_answers(
    started: tuple[RuntimeInfo, Path],
) -> None:
    info, _ = started
    sfn = _client(info, "stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=info.state_machines["Pipeline"], name="run-1", input=json.dumps({"value": 21})
    )
    described: dict[str, Any] = {}

    def finished() -> bool:
        described.update(sfn.describe_execution(executionArn=execution["executionArn"]))
        return described["status"] != "RUNNING"

    _wait_for(finished)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"doubled": 42}
    assert info.state_machines["Pipeline"].endswith(":stateMachine:pipeline-local")


def test_given_a_schedule_with_input_when_sped_up_then_the_function_gets_the_input(
    started: tuple[RuntimeInfo, Path],
) -> None:
    _, markers = started
    _wait_for(lambda: len(_bodies(markers, "tick")) >= 1)
    assert _bodies(markers, "tick")[0] == {"tick": True}


def test_given_a_schedule_on_a_state_machine_when_sped_up_then_it_starts_executions(
    started: tuple[RuntimeInfo, Path],
) -> None:
    info, _ = started
    sfn = _client(info, "stepfunctions")
    machine = info.state_machines["Pipeline"]
    outputs: list[Any] = []

    def one_succeeded() -> bool:
        for execution in sfn.list_executions(stateMachineArn=machine, statusFilter="SUCCEEDED")["executions"]:
            if execution["name"].startswith("schedule-"):
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                outputs.append(json.loads(described["output"]))
        return bool(outputs)

    _wait_for(one_succeeded)
    assert outputs[0] == {"doubled": 100}
