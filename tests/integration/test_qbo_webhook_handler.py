"""QBO's webhooks through the real handler, delivered by the QBO sandbox, both formats, into moto SQS."""

from __future__ import annotations

from datetime import UTC, datetime

from qbosync.settings import get_settings
from qbosync.store.aws import secrets_client
from qbosync.store.connections import ConnectionRepository
from tests.support.pull_world import TENANT, PullWorld, pull_world_fixture  # noqa: F401 (fixture)


def test_given_a_customer_created_in_qbo_when_the_legacy_webhook_arrives_then_200_and_one_pull_message(
    pull_world: PullWorld,
) -> None:
    created = pull_world.qbo_customer(DisplayName="Legacy Hook Co")

    pull_world.deliver_qbo_webhooks()

    assert pull_world.hook.replies == [200]
    [message] = pull_world.pull_messages()
    assert message["tenant_id"] == "acme"
    assert (message["change"]["entity"], message["change"]["entity_id"], message["change"]["operation"]) == (
        "Customer",
        created["Id"],
        "Create",
    )


def test_given_cloud_events_format_when_the_webhook_arrives_then_200_and_one_pull_message(
    pull_world: PullWorld,
) -> None:
    pull_world.qbo_sandbox.config.webhook_format = "cloudevents"
    created = pull_world.qbo_customer(DisplayName="Cloud Hook Co")

    pull_world.deliver_qbo_webhooks()

    assert pull_world.hook.replies == [200]
    [message] = pull_world.pull_messages()
    assert (message["change"]["entity_id"], message["change"]["operation"]) == (created["Id"], "Create")


def test_given_the_app_verifier_token_differs_when_the_webhook_arrives_then_401_no_change_queued_and_a_gap(
    pull_world: PullWorld,
) -> None:
    pull_world.qbo_sandbox.config.verifier_token = "a-token-qbosync-does-not-know"
    pull_world.qbo_customer(DisplayName="Forged Co")

    pull_world.deliver_qbo_webhooks()

    assert pull_world.hook.replies == [401]
    # The change is not trusted, so not queued; the realm it names is served: its tenant's backstop is due.
    [notice] = pull_world.pull_messages()
    assert (notice["kind"], notice["tenant_id"], notice["reason"]) == ("gap", TENANT, "unverified_webhook")


def test_given_intuit_resends_a_delivery_whose_reply_was_lost_then_it_is_queued_once(
    pull_world: PullWorld,
) -> None:
    pull_world.qbo_sandbox.config.webhook_format = "cloudevents"
    pull_world.qbo_sandbox.config.webhook_retry_schedule_seconds = [0.0, 0.0]
    pull_world.hook.lose_replies = 1  # qbosync queued it, but Intuit never saw the 200
    pull_world.qbo_customer(DisplayName="Twice Co")
    pull_world.deliver_qbo_webhooks()

    pull_world.deliver_qbo_webhooks()

    assert pull_world.hook.replies == [200, 200]
    [delivery] = pull_world.qbo_sandbox.webhooks.describe()["deliveries"]
    assert len(delivery["attempts"]) == 2
    assert len(pull_world.pull_messages()) == 1


def test_given_a_realm_no_tenant_owns_when_its_webhook_arrives_then_200_and_nothing_is_queued(
    pull_world: PullWorld,
) -> None:
    ConnectionRepository().mark_disconnected("acme", "admin-1", datetime.now(UTC))
    pull_world.qbo_customer(DisplayName="Orphan Co")

    pull_world.deliver_qbo_webhooks()

    assert pull_world.hook.replies == [200]
    assert pull_world.pull_messages() == []
    assert pull_world.qbo_sandbox.webhooks.describe()["deliveries"][0]["delivered"] is True


def test_given_a_warm_container_when_two_webhooks_arrive_then_the_verifier_token_is_read_once(
    pull_world: PullWorld,
) -> None:
    reads: list[str] = []
    secrets_client().meta.events.register(
        "provide-client-params.secrets-manager.GetSecretValue",
        lambda params, **_: reads.append(params["SecretId"]),
    )

    for name in ("First Warm Co", "Second Warm Co"):
        pull_world.qbo_customer(DisplayName=name)
        pull_world.deliver_qbo_webhooks()

    assert pull_world.hook.replies == [200, 200]
    assert reads == [get_settings().intuit_webhook_verifier_secret_name]
