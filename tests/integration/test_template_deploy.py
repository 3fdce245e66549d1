"""What CloudFormation will see: the template after the SAM transform, linted, with least-privilege roles.

The SAM transform runs offline in the SAM CLI's virtualenv (``local.cfn_check``); every test here reads its
output, because the local runtime enforces no IAM and ``sam validate --lint`` never sees the generated roles.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAM_PYTHON = ROOT / ".sam-venv" / "bin" / "python"


def run_cfn_check(template: Path, output: Path) -> subprocess.CompletedProcess[str]:
    assert SAM_PYTHON.exists(), "the SAM CLI's virtualenv is missing: run `make venv`"
    return subprocess.run(  # noqa: S603 - the project's own checker
        [str(SAM_PYTHON), "-m", "local.cfn_check", "--template", str(template), "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("cfn") / "transformed.json"
    result = run_cfn_check(TEMPLATE, output)
    assert result.returncode == 0, result.stdout + result.stderr
    loaded: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return loaded


# ------------------------------------------------------------------ lint


def test_given_the_template_when_transformed_and_linted_then_cloudformation_accepts_it(
    transformed: dict[str, Any],
) -> None:
    assert "Transform" not in transformed
    assert transformed["Resources"]["HttpApi"]["Type"] == "AWS::ApiGatewayV2::Api"


def test_given_a_function_environment_naming_its_own_api_when_checked_then_the_cycle_fails_the_check(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "statemachines", tmp_path / "statemachines")
    text = TEMPLATE.read_text(encoding="utf-8")
    cyclic = text.replace(
        "OAUTH_REDIRECT_URI: !Sub https://${ApiDomainName}/oauth/callback",
        "OAUTH_REDIRECT_URI: !Sub https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com/oauth/callback",
    )
    assert cyclic != text
    (tmp_path / "template.yaml").write_text(cyclic, encoding="utf-8")

    result = run_cfn_check(tmp_path / "template.yaml", tmp_path / "out.json")

    assert result.returncode == 1
    assert "E3004" in result.stdout


def test_given_the_parameters_when_read_then_none_has_a_dead_example_default(
    transformed: dict[str, Any],
) -> None:
    parameters = transformed["Parameters"]
    for required in ("ApiDomainName", "ApiHostedZoneId", "JwtIssuer", "SourceBaseUrl", "AdminReturnUrl"):
        assert "Default" not in parameters[required], required
    defaults = [str(p.get("Default", "")) for p in parameters.values()]
    assert not [value for value in defaults if "example.com" in value]


def test_given_the_app_secrets_when_read_then_the_stack_creates_them_and_generates_the_signing_key(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    signing = resources["StateSigningKeySecret"]["Properties"]
    assert signing["Name"] == {"Fn::Sub": "qbosync/${Stage}/app/state-signing-key"}
    assert signing["GenerateSecretString"]["GenerateStringKey"] == "key"
    assert signing["GenerateSecretString"]["PasswordLength"] >= 32
    intuit = resources["IntuitAppSecret"]["Properties"]
    assert intuit["Name"] == {"Fn::Sub": "qbosync/${Stage}/app/intuit"}
    assert json.loads(intuit["SecretString"]) == {}  # filled by the operator with Intuit's values
    verifier = resources["IntuitWebhookVerifierSecret"]["Properties"]
    assert verifier["Name"] == {"Fn::Sub": "qbosync/${Stage}/app/intuit-webhook-verifier"}
    assert json.loads(verifier["SecretString"]) == {}
    webhook_key = resources["SourceWebhookKeySecret"]["Properties"]
    assert webhook_key["Name"] == {"Fn::Sub": "qbosync/${Stage}/app/source-webhook-key"}
    assert webhook_key["GenerateSecretString"]["GenerateStringKey"] == "key"
    assert webhook_key["GenerateSecretString"]["PasswordLength"] >= 32


# ------------------------------------------------------------------ state machine


def _states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(name, state, covered by an enclosing Map's Catch) for every state, nested ones included."""

    def walk(states: dict[str, Any], covered: bool) -> Iterator[tuple[str, dict[str, Any], bool]]:
        for name, state in states.items():
            yield name, state, covered
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                yield from walk(processor["States"], covered or _catches_everything(state))

    return walk(definition["States"], False)


def _catches_everything(state: dict[str, Any]) -> bool:
    return any("States.ALL" in catcher["ErrorEquals"] for catcher in state.get("Catch", []))


def test_given_the_bulk_sync_definition_when_read_then_every_state_that_can_fail_is_caught() -> None:
    definition = json.loads((ROOT / "statemachines" / "bulk_sync.asl.json").read_text(encoding="utf-8"))
    uncaught = [
        name
        for name, state, covered in _states(definition)
        if state["Type"] in ("Task", "Map", "Parallel") and not covered and not _catches_everything(state)
    ]
    assert uncaught == []


def test_given_the_dry_run_definition_when_read_then_every_state_that_can_fail_ends_the_plan_failed() -> None:
    definition = json.loads((ROOT / "statemachines" / "dry_run.asl.json").read_text(encoding="utf-8"))
    states = definition["States"]
    for name, state, covered in _states(definition):
        if state["Type"] in ("Task", "Map", "Parallel") and not covered and name != "FailPlan":
            assert state["Catch"][0] == {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.error",
                "Next": "FailPlan",
            }
    assert states["FailPlan"]["Catch"][0]["Next"] == "PlanFailed"
    assert states["PlanFailed"]["Type"] == "Fail"


def test_given_a_failure_after_the_pages_when_caught_then_the_run_is_aborted_not_left_running() -> None:
    states = json.loads((ROOT / "statemachines" / "bulk_sync.asl.json").read_text(encoding="utf-8"))["States"]
    for name in ("SyncCustomerPages", "SyncProductPages", "Finish"):
        assert states[name]["Catch"][0]["Next"] == "AbortRun", name
    assert states["AbortRun"]["Catch"][0]["Next"] == "RunFailed"
    assert states["RunFailed"]["Type"] == "Fail"


# ------------------------------------------------------------------ IAM

T = "MainTable"
GSI = "MainTable/index/gsi1"
ITEM_WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
)
ITEM_CRUD = ("dynamodb:GetItem", *ITEM_WRITES, "dynamodb:Query")
SECRETS = "secret:qbosync/${Stage}"
TOKENS = f"{SECRETS}/tenants/*/qbo-tokens-*"
BULK_MACHINE = "stateMachine:qbosync-bulk-sync-${Stage}"
BULK_EXECUTIONS = "execution:qbosync-bulk-sync-${Stage}:*"
DRY_RUN_MACHINE = "stateMachine:qbosync-dry-run-${Stage}"


def table(actions: tuple[str, ...], leading_keys: tuple[str, ...], *resources: str) -> set[tuple[str, ...]]:
    """Each action on each resource for each partition-key pattern it may touch."""
    return {(action, resource, key) for action in actions for resource in resources for key in leading_keys}


def grant(actions: tuple[str, ...], *resources: str) -> set[tuple[str, ...]]:
    return {(action, resource, "") for action in actions for resource in resources}


# BUDGET#: the app-wide read budget every QBO reader counts into (qbosync.store.read_budget).
WORKER_KEYS = ("TENANT#*", "REALM#*", "GOV#*", "BUDGET#*")
WORKER_TABLE = table((*ITEM_CRUD, "dynamodb:BatchWriteItem"), WORKER_KEYS, T, GSI)
# The vault seals a second copy of each grant with the stack's KMS key (never the public webhooks).
SEAL_TOKEN_COPY = grant(("kms:Encrypt", "kms:Decrypt"), "TokenBackupKey")
TOKEN_VAULT = (
    grant(("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"), TOKENS) | SEAL_TOKEN_COPY
)
READ_INTUIT_APP = grant(("secretsmanager:GetSecretValue",), "IntuitAppSecret")
# Source credentials are sealed in the tenant's item; only the functions that call the source open them.
READ_SOURCE = grant(("kms:Decrypt",), "SourceCredentialsKey")
# What an SQS event source mapping needs on the one queue it polls.
POLL = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes")
# The schedules' dispatcher reads the sparse index of connected tenants: no table item, no scan.
CONNECTED_INDEX = table(("dynamodb:Query",), ("CONNECTED",), "MainTable/index/connected")

# What each function's code calls (grep `qbosync.store`): the template may grant this and nothing more.
DECLARED_NEEDS: dict[str, set[tuple[str, ...]]] = {
    "ApiFunction": table((*ITEM_CRUD, "dynamodb:BatchWriteItem"), (*WORKER_KEYS, "OAUTHSTATE#*"), T, GSI)
    | grant(("secretsmanager:GetSecretValue",), "IntuitAppSecret", "StateSigningKeySecret")
    | READ_SOURCE
    | grant(
        (
            "secretsmanager:GetSecretValue",
            "secretsmanager:CreateSecret",
            "secretsmanager:PutSecretValue",
            "secretsmanager:DeleteSecret",
        ),
        TOKENS,
    )
    | SEAL_TOKEN_COPY
    | grant(
        ("states:StartExecution", "states:StopExecution", "states:DescribeExecution"),
        BULK_MACHINE,
        BULK_EXECUTIONS,
    )
    | grant(("states:StartExecution",), DRY_RUN_MACHINE)
    | grant(("sqs:SendMessage",), "PushQueue", "PullQueue"),
    # Public: the tenant's profile and the one app key its webhook secret is derived from; no tenant
    # secret, no tokens, no Intuit app.
    "SourceWebhookFunction": table(("dynamodb:GetItem",), ("TENANT#*",), T)
    | grant(("secretsmanager:GetSecretValue",), "SourceWebhookKeySecret")
    | grant(("sqs:SendMessage",), "PushQueue"),
    # Public: the realm index, its own dedupe marks, Intuit's verifier token alone (never the client
    # secret); no tenant secret.
    "QboWebhookFunction": table(("dynamodb:Query",), ("REALM#*",), GSI)
    | table(("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"), ("QBOHOOK#*",), T)
    | grant(("secretsmanager:GetSecretValue",), "IntuitWebhookVerifierSecret")
    | grant(("sqs:SendMessage",), "PullQueue"),
    "PullWorkerFunction": WORKER_TABLE
    | grant(POLL, "PullQueue")
    | READ_INTUIT_APP
    | TOKEN_VAULT
    | READ_SOURCE
    | grant(("sqs:SendMessage",), "PushQueue"),
    "PushWorkerFunction": WORKER_TABLE
    | grant(POLL, "PushQueue")
    | grant(
        ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
        "IdempotencyTable",
    )
    | READ_INTUIT_APP
    | TOKEN_VAULT
    | READ_SOURCE
    | grant(("sqs:SendMessage",), "PushQueue"),
    "ScheduleDispatcherFunction": CONNECTED_INDEX | grant(("sqs:SendMessage",), "ScheduledWorkQueue"),
    "ScheduledWorkerFunction": WORKER_TABLE
    | grant(POLL, "ScheduledWorkQueue")
    | READ_INTUIT_APP
    | TOKEN_VAULT
    | READ_SOURCE
    | grant(("sqs:SendMessage",), "PushQueue", "PullQueue"),
    "BulkSyncTaskFunction": WORKER_TABLE | READ_INTUIT_APP | TOKEN_VAULT | READ_SOURCE,
}

BASE_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}

_ARN_PREFIX = re.compile(r"^arn:\$\{AWS::Partition\}:[a-z-]+:\$\{AWS::Region\}:\$\{AWS::AccountId\}:")


def resource_name(value: Any) -> str:
    """A readable name for a policy resource: a logical id, or the ARN without its account prefix."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", value
        return str(logical_id)
    if "Ref" in value:
        return str(value["Ref"])
    if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return _ARN_PREFIX.sub("", value["Fn::Sub"]).replace("${MainTable.Arn}", "MainTable")
    raise AssertionError(f"unexpected policy resource {value!r}")


def granted(role: dict[str, Any]) -> set[tuple[str, ...]]:
    """Every (action, resource, leading-key pattern) the role's inline policies allow."""
    grants: set[tuple[str, ...]] = set()
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            condition = statement.get("Condition", {})
            assert set(condition) <= {"ForAllValues:StringLike"}, condition
            keys = condition.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys", [""])
            for action in actions:
                assert "*" not in action, f"wildcard action {action}"
                for resource in resources:
                    for key in keys:
                        grants.add((action, resource_name(resource), key))
    return grants


@pytest.mark.parametrize("function_id", sorted(DECLARED_NEEDS))
def test_given_a_function_when_its_role_is_read_then_it_grants_exactly_its_declared_needs(
    transformed: dict[str, Any], function_id: str
) -> None:
    role = transformed["Resources"][f"{function_id}Role"]
    grants = granted(role)
    declared = DECLARED_NEEDS[function_id]
    assert grants - declared == set(), f"{function_id} is granted more than it needs"
    assert declared - grants == set(), f"{function_id} lacks what its code calls"
    # No managed policy beyond logs and X-Ray: SAM's SQS event would add one for every queue in the account.
    assert set(role["Properties"]["ManagedPolicyArns"]) == BASE_MANAGED


def test_given_every_function_when_listed_then_each_has_declared_needs(transformed: dict[str, Any]) -> None:
    functions = {
        logical_id
        for logical_id, resource in transformed["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    assert functions == set(DECLARED_NEEDS)


def test_given_the_public_webhooks_when_their_grants_are_read_then_no_token_or_scan_is_reachable(
    transformed: dict[str, Any],
) -> None:
    for function_id in ("SourceWebhookFunction", "QboWebhookFunction"):
        grants = granted(transformed["Resources"][f"{function_id}Role"])
        assert not [g for g in grants if "qbo-tokens" in g[1] or g[0] == "dynamodb:Scan"]
        assert not [g for g in grants if g[0].startswith("dynamodb:") and g[2] == ""], function_id
        # Neither reads a per-tenant secret or the Intuit app (client secret).
        assert not [g for g in grants if "/tenants/" in g[1] or g[1] == "IntuitAppSecret"], function_id


def test_given_token_secrets_when_grants_are_read_then_only_the_connect_flow_creates_or_deletes_them(
    transformed: dict[str, Any],
) -> None:
    creators = {
        function_id
        for function_id in DECLARED_NEEDS
        for action, resource, _ in granted(transformed["Resources"][f"{function_id}Role"])
        if action in ("secretsmanager:CreateSecret", "secretsmanager:DeleteSecret")
    }
    assert creators == {"ApiFunction"}


# ------------------------------------------------------------------ operations


def resources_of(transformed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in transformed["Resources"].items() if value["Type"] == kind}


def test_given_each_queue_consumer_when_read_then_visibility_is_six_times_its_timeout_and_concurrency_bounded(
    transformed: dict[str, Any],
) -> None:
    mappings = resources_of(transformed, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 3
    for mapping in mappings.values():
        properties = mapping["Properties"]
        queue_id = properties["EventSourceArn"]["Fn::GetAtt"][0]
        function_id = properties["FunctionName"]["Ref"]
        timeout = transformed["Resources"][function_id]["Properties"]["Timeout"]
        visibility = transformed["Resources"][queue_id]["Properties"]["VisibilityTimeout"]
        assert visibility >= 6 * timeout, (queue_id, visibility, timeout)
        assert "MaximumConcurrency" in properties["ScalingConfig"], queue_id


def test_given_every_function_when_its_role_is_read_then_none_may_scan_the_table(
    transformed: dict[str, Any],
) -> None:
    scanners = {
        function_id
        for function_id in DECLARED_NEEDS
        for action, _, _ in granted(transformed["Resources"][f"{function_id}Role"])
        if action == "dynamodb:Scan"
    }
    assert scanners == set()


def test_given_the_schedules_when_read_then_each_dispatches_its_job_with_the_scheduled_time(
    transformed: dict[str, Any],
) -> None:
    schedules = resources_of(transformed, "AWS::Scheduler::Schedule")
    inputs = {
        json.loads(schedule["Properties"]["Target"]["Input"])["job"]: schedule["Properties"]
        for schedule in schedules.values()
    }
    assert set(inputs) == {"reconcile", "keepalive", "retry"}
    for properties in inputs.values():
        assert properties["Target"]["Arn"] == {"Fn::GetAtt": ["ScheduleDispatcherFunction", "Arn"]}
        assert "<aws.scheduler.scheduled-time>" in properties["Target"]["Input"]
    assert inputs["reconcile"]["ScheduleExpression"] == {
        "Fn::Sub": "rate(${ReconcileIntervalMinutes} minutes)"
    }


def test_given_the_qbo_webhook_when_read_then_it_has_reserved_concurrency(
    transformed: dict[str, Any],
) -> None:
    reserved = transformed["Resources"]["QboWebhookFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved["Fn::If"][1] == {"Ref": "QboWebhookReservedConcurrency"}
    assert transformed["Parameters"]["QboWebhookReservedConcurrency"]["Default"] > 0


def test_given_every_function_when_read_then_it_logs_to_a_group_with_retention(
    transformed: dict[str, Any],
) -> None:
    for function_id in DECLARED_NEEDS:
        group_id = transformed["Resources"][function_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        group = transformed["Resources"][group_id]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_given_every_stateful_table_when_read_then_it_is_retained_protected_and_recoverable(
    transformed: dict[str, Any],
) -> None:
    tables = resources_of(transformed, "AWS::DynamoDB::Table")
    assert set(tables) == {"MainTable", "IdempotencyTable"}
    for table_id, resource in tables.items():
        assert resource["DeletionPolicy"] == "Retain", table_id
        assert resource["UpdateReplacePolicy"] == "Retain", table_id
        properties = resource["Properties"]
        assert properties["DeletionProtectionEnabled"] is True, table_id
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def _alarmed(transformed: dict[str, Any], namespace: str, dimension: str) -> set[str]:
    """Logical ids whose metric in ``namespace`` some alarm watches, by the dimension naming them."""
    watched: set[str] = set()
    for alarm in resources_of(transformed, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if properties.get("Namespace") != namespace:
            continue
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        for item in properties["Dimensions"]:
            if item["Name"] == dimension:
                value = item["Value"]
                watched.add(value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0])
    return watched


def test_given_every_dead_letter_queue_and_function_when_read_then_each_has_an_alarm(
    transformed: dict[str, Any],
) -> None:
    dead_letter_queues = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in resources_of(transformed, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in queue["Properties"]
    }
    assert dead_letter_queues == {
        "PushDeadLetterQueue",
        "PullDeadLetterQueue",
        "ScheduledWorkDeadLetterQueue",
    }
    assert dead_letter_queues <= _alarmed(transformed, "AWS/SQS", "QueueName")
    assert set(DECLARED_NEEDS) <= _alarmed(transformed, "AWS/Lambda", "FunctionName")


def test_given_the_dashboard_when_its_placeholders_are_filled_then_its_body_is_valid_json(
    transformed: dict[str, Any],
) -> None:
    body = transformed["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    filled = re.sub(r"\$\{[^}]+\}", "x", body)
    widgets = json.loads(filled)["widgets"]
    titles = " ".join(widget["properties"]["title"] for widget in widgets)
    for needed in ("Errors", "Throttles", "dead-letter", "bulk sync"):
        assert needed in titles


# ------------------------------------------------------------------ runtime and layer

LAYER_MAKEFILE = ROOT / "layers" / "common" / "Makefile"
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "CommonLayer" / "python"


def deployed_runtime(transformed: dict[str, Any]) -> tuple[str, str]:
    """The one runtime and architecture every function declares, e.g. ("python3.13", "x86_64")."""
    functions = resources_of(transformed, "AWS::Lambda::Function").values()
    runtimes = {function["Properties"]["Runtime"] for function in functions}
    architectures = {tuple(function["Properties"]["Architectures"]) for function in functions}
    assert len(runtimes) == 1 and len(architectures) == 1, (runtimes, architectures)
    (architecture,) = architectures.pop()
    return runtimes.pop(), architecture


def test_given_the_functions_when_read_then_they_run_a_supported_runtime_the_layer_is_built_for(
    transformed: dict[str, Any],
) -> None:
    runtime, architecture = deployed_runtime(transformed)
    assert runtime in ("python3.12", "python3.13", "python3.14")
    layer = next(iter(resources_of(transformed, "AWS::Lambda::LayerVersion").values()))["Properties"]
    assert layer["CompatibleRuntimes"] == [runtime]
    assert layer["CompatibleArchitectures"] == [architecture]
    makefile = LAYER_MAKEFILE.read_text(encoding="utf-8")
    assert f"LAMBDA_PYTHON_VERSION ?= {runtime.removeprefix('python')}\n" in makefile
    assert f"LAMBDA_PLATFORM ?= manylinux2014_{architecture}\n" in makefile


def test_given_the_built_layer_when_its_wheels_are_read_then_they_match_the_runtime_and_architecture(
    transformed: dict[str, Any],
) -> None:
    if not BUILT_LAYER.is_dir():
        pytest.skip("no built layer: `make sam-build` (part of `make test`) builds it first")
    runtime, architecture = deployed_runtime(transformed)
    abi = "cp" + runtime.removeprefix("python").replace(".", "")
    extensions = list(BUILT_LAYER.rglob("*.so"))
    assert extensions, "the layer has no compiled extension (pydantic-core has one)"
    for extension in extensions:
        assert f".cpython-{abi[2:]}-{architecture}-linux-gnu.so" in extension.name, extension.name
    for wheel in BUILT_LAYER.glob("*.dist-info/WHEEL"):
        tags = [line.split(": ", 1)[1] for line in wheel.read_text().splitlines() if line.startswith("Tag: ")]
        assert any(
            tag.endswith("-none-any") or (tag.startswith(f"{abi}-") and tag.endswith(f"_{architecture}"))
            for tag in tags
        ), (wheel.parent.name, tags)
    for compiled in BUILT_LAYER.rglob("*.pyc"):
        assert f".cpython-{abi[2:]}.pyc" in compiled.name, compiled.name
    # The runtime provides boto3: a second botocore in the layer would shadow it.
    assert not (BUILT_LAYER / "botocore").exists()
    assert not (BUILT_LAYER / "boto3").exists()


def test_given_the_retry_schedule_when_read_then_it_never_takes_over_a_message_its_queue_still_retries(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    quiet_at_least = transformed["Parameters"]["RetryDeadLetterAfterSeconds"]["MinValue"]
    visibility = resources["PushQueue"]["Properties"]["VisibilityTimeout"]
    assert quiet_at_least >= visibility + resources["PushWorkerFunction"]["Properties"]["Timeout"]


def test_given_every_state_machine_when_read_then_an_alarm_watches_its_failed_timed_out_and_aborted_runs(
    transformed: dict[str, Any],
) -> None:
    state_machines = set(resources_of(transformed, "AWS::StepFunctions::StateMachine"))
    watched: dict[str, set[str]] = {}
    for alarm in resources_of(transformed, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        for query in properties.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") != "AWS/States":
                continue
            assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
            for item in metric["Dimensions"]:
                if item["Name"] == "StateMachineArn":
                    watched.setdefault(item["Value"]["Ref"], set()).add(metric["MetricName"])
    assert state_machines == {"BulkSyncStateMachine", "DryRunStateMachine"}
    for state_machine in state_machines:
        assert watched.get(state_machine) == {
            "ExecutionsFailed",
            "ExecutionsTimedOut",
            "ExecutionsAborted",
        }, state_machine
