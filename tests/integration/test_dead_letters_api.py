"""The dead-letters API: what failed too often shows for its tenant only and can be sent back once."""

from __future__ import annotations

from datetime import datetime

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from qbosync.store.aws import sqs_client
from tests.support.dead_letters_world import (
    MAX_RECEIVES,
    TENANT_A,
    TENANT_B,
    Queues,
    build_api,
    call,
    count,
    fail_everything,
    pull_message,
    push_message,
    send_pull,
    send_push,
    set_up_queues,
    take_all,
    visible,
)

LIST_A = f"/tenants/{TENANT_A}/sync/dead-letters"
LIST_B = f"/tenants/{TENANT_B}/sync/dead-letters"


@pytest.fixture
def queues(main_table: str, monkeypatch: pytest.MonkeyPatch) -> Queues:
    return set_up_queues(monkeypatch)


@pytest.fixture
def api(queues: Queues) -> APIGatewayHttpResolver:
    return build_api()


def redrive_path(tenant_id: str, message_id: str) -> str:
    return f"/tenants/{tenant_id}/sync/dead-letters/{message_id}/redrive"


def test_given_a_push_message_that_failed_five_times_when_its_tenant_lists_then_it_shows_with_its_reason_data(
    api: APIGatewayHttpResolver, queues: Queues
) -> None:
    message = push_message(TENANT_A, "evt-a-1", kind="payment", source_id="pay-9")
    message_id = send_push(queues, message)

    fail_everything(queues.push)

    assert count(queues.push) == 0
    assert count(queues.push_dlq) == 1
    status, body = call(api, "GET", LIST_A, tenants=TENANT_A)
    assert status == 200
    assert body["complete"] is True
    [item] = body["items"]
    assert item["queue"] == "push"
    assert item["message_id"] == message_id
    assert item["event_id"] == "evt-a-1"
    assert item["kind"] == "payment"
    assert item["object_id"] == "pay-9"
    assert item["receive_count"] == MAX_RECEIVES
    assert item["redrives"] == 0
    assert datetime.fromisoformat(item["sent_at"]) <= datetime.fromisoformat(item["first_received_at"])
    assert "tenant_id" not in item
    assert visible(queues.push_dlq) == 1


def test_given_dead_letters_of_two_tenants_when_each_lists_then_each_sees_only_its_own(
    api: APIGatewayHttpResolver, queues: Queues
) -> None:
    a_push = send_push(queues, push_message(TENANT_A, "evt-a-1"))
    a_pull = send_pull(queues, pull_message(TENANT_A, "c-1"))
    b_push = send_push(queues, push_message(TENANT_B, "evt-b-1"))
    b_pull = send_pull(queues, pull_message(TENANT_B, "c-2"))
    fail_everything(queues.push)
    fail_everything(queues.pull)

    _, seen_by_a = call(api, "GET", LIST_A, tenants=TENANT_A)
    _, seen_by_b = call(api, "GET", LIST_B, tenants=TENANT_B)

    assert {(i["queue"], i["message_id"]) for i in seen_by_a["items"]} == {("push", a_push), ("pull", a_pull)}
    assert {(i["queue"], i["message_id"]) for i in seen_by_b["items"]} == {("push", b_push), ("pull", b_pull)}
    [pull_item] = [i for i in seen_by_a["items"] if i["queue"] == "pull"]
    assert pull_item["kind"] == "qbo.customer"
    assert pull_item["object_id"] == "c-1"
    assert pull_item["event_id"] == pull_message(TENANT_A, "c-1").change.event_id
    assert visible(queues.push_dlq) == 2
    assert visible(queues.pull_dlq) == 2


def test_given_a_token_for_tenant_b_when_it_lists_tenant_a_dead_letters_then_403_and_nothing_is_shown(
    api: APIGatewayHttpResolver, queues: Queues
) -> None:
    send_push(queues, push_message(TENANT_A, "evt-a-1"))
    fail_everything(queues.push)

    status, body = call(api, "GET", LIST_A, tenants=TENANT_B)

    assert status == 403
    assert body["error"]["code"] == "tenant_forbidden"
    assert visible(queues.push_dlq) == 1


def test_given_a_dead_lettered_push_message_when_redriven_then_it_is_back_on_the_push_queue_in_its_group(
    api: APIGatewayHttpResolver, queues: Queues
) -> None:
    message = push_message(TENANT_A, "evt-a-1")
    message_id = send_push(queues, message)
    fail_everything(queues.push)

    status, body = call(api, "POST", redrive_path(TENANT_A, message_id), tenants=TENANT_A)

    assert status == 202
    assert body == {"message_id": message_id, "queue": "push", "event_id": "evt-a-1", "status": "redriven"}
    assert count(queues.push_dlq) == 0
    [back] = take_all(queues.push)
    assert back["Body"] == message.model_dump_json()
    assert back["Attributes"]["MessageGroupId"] == TENANT_A
    assert back["Attributes"]["MessageDeduplicationId"] != message.deduplication_id
    assert back["MessageAttributes"]["qbosync-redrives"]["StringValue"] == "1"
    _, listed = call(api, "GET", LIST_A, tenants=TENANT_A)
    assert listed["items"] == []


def test_given_a_dead_lettered_pull_message_when_redriven_then_it_is_back_on_the_pull_queue(
    api: APIGatewayHttpResolver, queues: Queues
) -> None:
    message = pull_message(TENANT_A, "c-1")
    message_id = send_pull(queues, message)
    fail_everything(queues.pull)

    status, body = call(api, "POST", redrive_path(TENANT_A, message_id), tenants=TENANT_A)

    assert status == 202
    assert body["queue"] == "pull"
    assert count(queues.pull_dlq) == 0
    [back] = take_all(queues.pull)
    assert back["Body"] == message.model_dump_json()


def test_given_tenant_a_dead_letter_when_tenant_b_redrives_it_then_404_and_it_stays_in_the_dlq(
    api: APIGatewayHttpResolver, queues: Queues
) -> None:
    message_id = send_push(queues, push_message(TENANT_A, "evt-a-1"))
    fail_everything(queues.push)

    status, body = call(api, "POST", redrive_path(TENANT_B, message_id), tenants=TENANT_B)

    assert status == 404
    assert body["error"]["code"] == "dead_letter_not_found"
    assert count(queues.push) == 0
    assert visible(queues.push_dlq) == 1
    forbidden, _ = call(api, "POST", redrive_path(TENANT_A, message_id), tenants=TENANT_B)
    assert forbidden == 403
    assert visible(queues.push_dlq) == 1


def test_given_no_such_message_when_redriven_then_404_with_the_error_shape(
    api: APIGatewayHttpResolver, queues: Queues
) -> None:
    send_push(queues, push_message(TENANT_A, "evt-a-1"))
    fail_everything(queues.push)

    status, body = call(
        api, "POST", redrive_path(TENANT_A, "3f1c1e0a-0000-4000-8000-000000000000"), tenants=TENANT_A
    )

    assert status == 404
    assert body["error"]["code"] == "dead_letter_not_found"
    assert body["error"]["details"] == [{"message_id": "3f1c1e0a-0000-4000-8000-000000000000"}]
    assert visible(queues.push_dlq) == 1


def test_given_three_dead_letters_when_one_is_redriven_then_the_other_two_stay_visible_in_their_dlqs(
    api: APIGatewayHttpResolver, queues: Queues
) -> None:
    first = send_push(queues, push_message(TENANT_A, "evt-a-1"))
    second = send_push(queues, push_message(TENANT_A, "evt-a-2", source_id="inv-2"))
    pulled = send_pull(queues, pull_message(TENANT_A, "c-1"))
    fail_everything(queues.push)
    fail_everything(queues.pull)

    status, _ = call(api, "POST", redrive_path(TENANT_A, second), tenants=TENANT_A)

    assert status == 202
    assert visible(queues.push_dlq) == 1
    assert visible(queues.pull_dlq) == 1
    _, listed = call(api, "GET", LIST_A, tenants=TENANT_A)
    assert {i["message_id"] for i in listed["items"]} == {first, pulled}
    [back] = take_all(queues.push)
    assert back["MessageId"] != first


def test_given_a_message_that_fails_again_after_a_redrive_when_redriven_again_then_its_dedupe_id_is_fresh(
    api: APIGatewayHttpResolver, queues: Queues
) -> None:
    message = push_message(TENANT_A, "evt-a-1")
    send_push(queues, message)
    fail_everything(queues.push)
    [letter] = call(api, "GET", LIST_A, tenants=TENANT_A)[1]["items"]
    call(api, "POST", redrive_path(TENANT_A, letter["message_id"]), tenants=TENANT_A)
    first_id = _dedupe_ids_on_the_way(queues)

    fail_everything(queues.push)
    _, listed = call(api, "GET", LIST_A, tenants=TENANT_A)
    [again] = listed["items"]
    status, _ = call(api, "POST", redrive_path(TENANT_A, again["message_id"]), tenants=TENANT_A)

    assert again["redrives"] == 1
    assert status == 202
    [back] = take_all(queues.push)
    assert back["MessageAttributes"]["qbosync-redrives"]["StringValue"] == "2"
    assert back["Attributes"]["MessageDeduplicationId"] not in {first_id, message.deduplication_id}


def _dedupe_ids_on_the_way(queues: Queues) -> str:
    """The deduplication id of the one message on the push queue, left there for the next failure."""
    [message] = sqs_client().receive_message(
        QueueUrl=queues.push, AttributeNames=["All"], MaxNumberOfMessages=1, VisibilityTimeout=0
    )["Messages"]
    dedupe: str = message["Attributes"]["MessageDeduplicationId"]
    return dedupe
