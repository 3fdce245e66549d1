"""The template model reads the real template.yaml, and its resolver gives local values or clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.template_model import (
    Intrinsic,
    IntrinsicResolver,
    LocalResourceMap,
    TemplateModel,
    UnresolvableIntrinsic,
    load_template,
    resolve_environment,
    substitute_definition,
)

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture(scope="module")
def model() -> TemplateModel:
    return load_template(TEMPLATE)


def test_given_the_template_when_parsed_then_tables_have_their_keys_index_and_ttl(
    model: TemplateModel,
) -> None:
    main = model.tables["MainTable"].properties
    assert [key["AttributeName"] for key in main["KeySchema"]] == ["pk", "sk"]
    assert main["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert main["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert "IdempotencyTable" in model.tables


def test_given_the_template_when_parsed_then_the_push_queue_is_fifo_and_redrives_to_its_dlq(
    model: TemplateModel,
) -> None:
    push = model.queues["PushQueue"]
    assert push.fifo is True
    assert push.visibility_timeout >= 6 * model.functions["PushWorkerFunction"].timeout
    assert push.dead_letter_target == "PushDeadLetterQueue"
    assert push.max_receive_count == 5
    assert model.queues["PullQueue"].fifo is False


def test_given_the_template_when_parsed_then_functions_merge_global_and_own_environment(
    model: TemplateModel,
) -> None:
    api = model.functions["ApiFunction"]
    assert api.code_uri == "functions/api/"
    assert (api.handler_module, api.handler_function) == ("app", "lambda_handler")
    assert "TABLE_NAME" in api.environment  # from Globals
    assert "BULK_SYNC_STATE_MACHINE_ARN" in api.environment  # its own
    assert model.functions["QboWebhookFunction"].timeout == 3
    assert model.functions["ApiFunction"].timeout == 30  # the Globals default


def test_given_the_template_when_parsed_then_routes_carry_the_default_jwt_authorizer_unless_none(
    model: TemplateModel,
) -> None:
    by_key = {route.route_key: route for route in model.routes}
    assert by_key["ANY /tenants/{tenant_id}/{proxy+}"].authorizer == "AdminJwt"
    assert by_key["GET /oauth/callback"].authorizer is None
    assert by_key["POST /webhooks/qbo"].function_id == "QboWebhookFunction"
    authorizer = model.jwt_authorizers["AdminJwt"]
    assert authorizer.issuer == Intrinsic("Ref", "JwtIssuer")
    assert authorizer.audience == [Intrinsic("Ref", "JwtAudience")]


def test_given_local_values_when_resolving_environment_then_refs_and_subs_become_local(
    model: TemplateModel,
) -> None:
    resources = LocalResourceMap(
        refs={
            "MainTable": "t-main",
            "IdempotencyTable": "t-idem",
            "PushQueue": "http://q/push",
            "PullQueue": "http://q/pull",
            "PushDeadLetterQueue": "http://q/push-dlq",
            "PullDeadLetterQueue": "http://q/pull-dlq",
            "ScheduledWorkQueue": "http://q/scheduled-work",
            "HttpApi": "api",
            "TokenBackupKey": "key-1",
            "SourceCredentialsKey": "key-2",
        },
        parameters={
            "Stage": "local",
            "QboBaseUrl": "http://127.0.0.1:1",
            "SourceBaseUrl": "http://127.0.0.1:3",
            "AdminReturnUrl": "http://127.0.0.1:2/connected",
        },
        api_base_url="http://127.0.0.1:2",
    )
    environment = resolve_environment(model.functions["ApiFunction"], IntrinsicResolver(model, resources))
    assert environment["TABLE_NAME"] == "t-main"
    assert environment["SECRET_PREFIX"] == "qbosync/local"
    assert environment["TOKEN_BACKUP_KEY_ID"] == "key-1"
    assert environment["SOURCE_CREDENTIALS_KEY_ID"] == "key-2"
    assert environment["QBO_BASE_URL"] == "http://127.0.0.1:1"
    assert environment["OAUTH_REDIRECT_URI"] == "http://127.0.0.1:2/oauth/callback"
    assert environment["BULK_SYNC_STATE_MACHINE_ARN"] == (
        "arn:aws:states:us-east-1:123456789012:stateMachine:qbosync-bulk-sync-local"
    )


def test_given_an_unknown_ref_when_resolving_then_the_error_names_it(model: TemplateModel) -> None:
    resolver = IntrinsicResolver(model, LocalResourceMap())
    with pytest.raises(UnresolvableIntrinsic, match="NoSuchThing"):
        resolver.resolve(Intrinsic("Ref", "NoSuchThing"))


def test_given_the_alarm_condition_when_resolved_with_the_default_email_then_it_is_false(
    model: TemplateModel,
) -> None:
    assert IntrinsicResolver(model, LocalResourceMap()).condition("HasAlarmEmail") is False


def test_given_a_definition_placeholder_without_substitution_when_substituting_then_it_fails() -> None:
    assert substitute_definition('{"a": "${Fn}"}', {"Fn": "arn:x"}) == '{"a": "arn:x"}'
    with pytest.raises(UnresolvableIntrinsic, match="Missing"):
        substitute_definition('{"a": "${Missing}"}', {})


def test_given_schedules_from_parameters_when_resolved_then_they_are_the_parameter_defaults(
    model: TemplateModel,
) -> None:
    resolver = IntrinsicResolver(model, LocalResourceMap(parameters={"Stage": "local"}))
    by_job = {
        json.loads(resolved.input)["job"]: resolved
        for resolved in (schedule.resolved(resolver) for schedule in model.schedules)
        if resolved.function_id == "ScheduleDispatcherFunction"
    }
    assert set(by_job) == {"reconcile", "keepalive", "retry"}
    reconcile = by_job["reconcile"]
    assert reconcile.kind == "ScheduleV2"
    assert reconcile.expression == f"rate({model.parameters['ReconcileIntervalMinutes']['Default']} minutes)"
    assert by_job["retry"].expression == model.parameters["RetryEventsSchedule"]["Default"]
    assert reconcile.retry_attempts == 1


def test_given_the_template_when_parsed_then_sqs_events_name_their_queues_and_report_item_failures(
    model: TemplateModel,
) -> None:
    queues = {event.queue.value[0]: event for event in model.sqs_events}
    assert set(queues) >= {"PushQueue", "PullQueue"}
    assert all(event.report_batch_item_failures for event in queues.values())


def test_given_the_template_when_parsed_then_the_bulk_sync_state_machine_substitutes_a_function_arn(
    model: TemplateModel,
) -> None:
    machine = model.state_machines["BulkSyncStateMachine"]
    assert machine.definition_uri == "statemachines/bulk_sync.asl.json"
    substitution = machine.substitutions["BulkSyncTaskFunctionArn"]
    assert substitution == Intrinsic("Fn::GetAtt", ["BulkSyncTaskFunction", "Arn"])
