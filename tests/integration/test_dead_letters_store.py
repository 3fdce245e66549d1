"""The dead-letter store: peeking never loses or hides a message, whatever the DLQ holds or refuses."""

from __future__ import annotations

import pytest

from qbosync.settings import get_settings
from qbosync.store.aws import sqs_client
from qbosync.store.dead_letters import DeadLetterNotFound, DeadLetterQueueNotConfigured, DeadLetterQueues
from qbosync.store.table import StoreUnavailable
from tests.support.dead_letters_world import (
    MAX_RECEIVES,
    TENANT_A,
    TENANT_B,
    Queues,
    build_api,
    call,
    count,
    dead_letter_queues,
    fail_everything,
    pull_message,
    push_message,
    send_pull,
    send_push,
    set_up_queues,
    visible,
)


@pytest.fixture
def queues(main_table: str, monkeypatch: pytest.MonkeyPatch) -> Queues:
    return set_up_queues(monkeypatch)


def test_given_twelve_push_dead_letters_of_a_tenant_when_listed_then_ten_show_and_the_rest_after_a_redrive(
    queues: Queues,
) -> None:
    ids_a = [send_push(queues, push_message(TENANT_A, f"evt-a-{i}", source_id=f"inv-{i}")) for i in range(12)]
    ids_b = [send_push(queues, push_message(TENANT_B, f"evt-b-{i}", source_id=f"inv-{i}")) for i in range(3)]
    fail_everything(queues.push, rounds=3 * (MAX_RECEIVES + 1))
    store = dead_letter_queues()

    first_a = store.list(TENANT_A)
    listed_b = store.list(TENANT_B)

    assert count(queues.push_dlq) == 15
    assert [letter.message_id for letter in first_a.items] == ids_a[:10]
    assert first_a.complete is False
    assert [letter.message_id for letter in listed_b.items] == ids_b
    assert listed_b.complete is True
    assert visible(queues.push_dlq) == 15
    for letter in first_a.items[:2]:
        store.redrive(TENANT_A, letter.message_id)
    then_a = store.list(TENANT_A)
    assert [letter.message_id for letter in then_a.items] == ids_a[2:]
    assert then_a.complete is True
    assert count(queues.push) == 2
    assert visible(queues.push_dlq) == 13


def test_given_a_dead_letter_that_is_no_qbosync_message_when_listed_or_redriven_then_it_stays_unseen(
    queues: Queues,
) -> None:
    stranger = sqs_client().send_message(
        QueueUrl=queues.push,
        MessageBody='{"not": "a push message"}',
        MessageGroupId=TENANT_A,
        MessageDeduplicationId="stranger-1",
    )["MessageId"]
    fail_everything(queues.push)
    store = dead_letter_queues()

    listed = store.list(TENANT_A)

    assert listed.items == []
    with pytest.raises(DeadLetterNotFound):
        store.redrive(TENANT_A, stranger)
    assert visible(queues.push_dlq) == 1
    assert count(queues.push) == 0


def test_given_the_push_queue_refuses_the_redrive_when_redriven_then_503_and_the_message_stays_in_the_dlq(
    queues: Queues,
) -> None:
    message_id = send_push(queues, push_message(TENANT_A, "evt-a-1"))
    fail_everything(queues.push)
    missing_queue = queues.push.rsplit("/", 1)[0] + "/no-such-queue.fifo"
    store = DeadLetterQueues(readers=dead_letter_queues().readers, push_queue_url=missing_queue)

    with pytest.raises(StoreUnavailable) as raised:
        store.redrive(TENANT_A, message_id)

    assert raised.value.status == 503
    assert visible(queues.push_dlq) == 1
    assert [letter.message_id for letter in dead_letter_queues().list(TENANT_A).items] == [message_id]


def test_given_no_push_dlq_url_when_the_api_lists_then_the_pull_dlq_is_still_read(
    queues: Queues, monkeypatch: pytest.MonkeyPatch
) -> None:
    pulled = send_pull(queues, pull_message(TENANT_A, "c-1"))
    send_push(queues, push_message(TENANT_A, "evt-a-1"))
    fail_everything(queues.pull)
    fail_everything(queues.push)
    monkeypatch.delenv("PUSH_DLQ_URL")
    get_settings.cache_clear()

    status, body = call(build_api(), "GET", f"/tenants/{TENANT_A}/sync/dead-letters", tenants=TENANT_A)

    assert status == 200
    assert [item["message_id"] for item in body["items"]] == [pulled]
    assert visible(queues.push_dlq) == 1


def test_given_no_pull_queue_url_when_a_pull_dead_letter_is_redriven_then_503_and_it_stays_in_the_dlq(
    queues: Queues, monkeypatch: pytest.MonkeyPatch
) -> None:
    pulled = send_pull(queues, pull_message(TENANT_A, "c-1"))
    fail_everything(queues.pull)
    monkeypatch.delenv("PULL_QUEUE_URL")
    get_settings.cache_clear()

    with pytest.raises(DeadLetterQueueNotConfigured) as raised:
        dead_letter_queues().redrive(TENANT_A, pulled)

    assert raised.value.status == 503
    assert "PULL_QUEUE_URL" in raised.value.message
    assert visible(queues.pull_dlq) == 1
