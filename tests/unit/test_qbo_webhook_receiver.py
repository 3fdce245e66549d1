"""The QBO webhook receiver, with fakes: signature, both formats, routing, duplicates, nothing lost."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from qbosync.errors import BadRequest
from qbosync.store.reconcile_signals import GapReason
from qbosync.store.table import StoreUnavailable
from qbosync.sync.pull.gaps import MAX_CLAIMED_REALMS, GapNotice, QueuedGapSignals, gap_notice_of
from qbosync.sync.pull.receiver import (
    QboWebhookReceiver,
    SignatureInvalid,
    SignatureMissing,
    expected_signature,
)
from qbosync.sync.records.messages import PullMessage

VERIFIER = "unit-verifier-token"
REALM = "9341453050108822"


class FakeSecrets:
    def webhook_verifier_token(self) -> SecretStr:
        return SecretStr(VERIFIER)


@dataclass
class FakeRealms:
    owners: dict[str, str] = field(default_factory=lambda: {REALM: "acme"})

    def get_by_realm(self, realm_id: str) -> object | None:
        tenant = self.owners.get(realm_id)
        return None if tenant is None else type("Connection", (), {"tenant_id": tenant})()


@dataclass
class FakeMarks:
    seen: set[str] = field(default_factory=set)
    fail_writes: bool = False

    def already_queued(self, dedupe_keys: Sequence[str], now: float) -> set[str]:
        return self.seen.intersection(dedupe_keys)

    def mark_queued(self, dedupe_keys: Sequence[str], now: float) -> None:
        if self.fail_writes:
            raise StoreUnavailable("the table is throttling")
        self.seen.update(dedupe_keys)


@dataclass
class FakeQueue:
    sent: list[str] = field(default_factory=list)
    fail: bool = False

    def send_all(self, bodies: Sequence[str]) -> None:
        if self.fail:
            raise StoreUnavailable("the queue is down")
        self.sent.extend(bodies)

    def messages(self) -> list[PullMessage]:
        return [PullMessage.model_validate_json(body) for body in self.sent]


@dataclass
class FakeGaps:
    """The gap notices the receiver sent, as (tenant, reason, when)."""

    signalled: list[tuple[str, GapReason, datetime]] = field(default_factory=list)
    fail: bool = False

    def signal(self, tenant_ids: Sequence[str], reason: GapReason, at: datetime) -> None:
        if self.fail:
            raise StoreUnavailable("the queue is down")
        self.signalled.extend((tenant_id, reason, at) for tenant_id in tenant_ids)


NOW = 1_795_150_800.0  # 2026-11-20T05:00:00Z, before the sample bodies' changes: none of them is late


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def gaps() -> FakeGaps:
    return FakeGaps()


@pytest.fixture
def marks() -> FakeMarks:
    return FakeMarks()


@pytest.fixture
def receiver(queue: FakeQueue, marks: FakeMarks, gaps: FakeGaps) -> QboWebhookReceiver:
    return QboWebhookReceiver(
        secrets=FakeSecrets(),
        realms=FakeRealms(),
        marks=marks,
        queue=queue,
        clock=lambda: NOW,
        gaps=gaps,
        late_after=timedelta(minutes=15),
    )


def legacy_body(realm: str = REALM, **entity: Any) -> bytes:
    change = {
        "name": "Customer",
        "id": "58",
        "operation": "Create",
        "lastUpdated": "2026-11-22T04:00:00.000Z",
    }
    change.update(entity)
    document = {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [change]}}]}
    return json.dumps(document).encode()


def cloud_events_body(*events: dict[str, Any]) -> bytes:
    base = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "intuit.abc",
        "type": "qbo.customer.created.v1",
        "datacontenttype": "application/json",
        "time": "2026-11-22T04:00:00.123456789Z",
        "intuitentityid": "58",
        "intuitaccountid": REALM,
        "data": {},
    }
    return json.dumps([{**base, **event} for event in events or ({},)]).encode()


def signed(body: bytes, content_type: str = "application/json") -> dict[str, str]:
    return {"intuit-signature": expected_signature(VERIFIER, body), "Content-Type": content_type}


def test_given_a_signed_legacy_notification_when_received_then_one_message_per_change_is_queued(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    body = legacy_body()

    receipt = receiver.receive(signed(body), body)

    assert receipt.queued == 1
    [message] = queue.messages()
    assert (message.tenant_id, message.change.entity, message.change.entity_id, message.change.operation) == (
        "acme",
        "Customer",
        "58",
        "Create",
    )


def test_given_signed_cloud_events_when_received_then_entity_verb_and_realm_come_from_the_event(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    body = cloud_events_body(
        {"id": "ce-1"},
        {"id": "ce-2", "type": "qbo.creditmemo.voided.v1", "intuitentityid": "7"},
        {"id": "ce-3", "type": "qbo.customer.merged.v1", "intuitentityid": "9", "data": {"deletedId": "4"}},
    )

    receiver.receive(signed(body, "application/cloudevents+json"), body)

    changes = [message.change for message in queue.messages()]
    assert [(c.entity, c.entity_id, c.operation, c.deleted_id) for c in changes] == [
        ("Customer", "58", "Create", None),
        ("CreditMemo", "7", "Void", None),
        ("Customer", "9", "Merge", "4"),
    ]


def test_given_a_body_signed_with_another_token_when_received_then_401_and_nothing_is_queued(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    body = legacy_body()
    headers = {
        "intuit-signature": expected_signature("not-the-verifier", body),
        "content-type": "application/json",
    }

    with pytest.raises(SignatureInvalid) as raised:
        receiver.receive(headers, body)

    assert raised.value.status == 401
    assert queue.sent == []


def test_given_a_tampered_body_when_received_then_401_and_nothing_is_queued(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    headers = signed(legacy_body())

    with pytest.raises(SignatureInvalid):
        receiver.receive(headers, legacy_body(id="59"))

    assert queue.sent == []


def test_given_no_signature_when_received_then_401_and_nothing_is_queued(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    with pytest.raises(SignatureMissing) as raised:
        receiver.receive({"content-type": "application/json"}, legacy_body())

    assert raised.value.status == 401
    assert queue.sent == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"something": "else"}', b'[{"specversion": "1.0"}]', b'{"eventNotifications": "x"}'],
    ids=["not-json", "unknown-shape", "incomplete-cloud-event", "wrong-types"],
)
def test_given_a_signed_malformed_body_when_received_then_400_and_nothing_is_queued(
    receiver: QboWebhookReceiver, queue: FakeQueue, body: bytes
) -> None:
    with pytest.raises(BadRequest) as raised:
        receiver.receive(signed(body), body)

    assert raised.value.status == 400
    assert queue.sent == []


def test_given_the_same_notification_twice_when_received_then_it_is_queued_once(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    body = cloud_events_body()
    receiver.receive(signed(body), body)

    receipt = receiver.receive(signed(body), body)

    assert (receipt.queued, receipt.duplicates) == (0, 1)
    assert len(queue.sent) == 1


def test_given_a_realm_no_tenant_owns_when_received_then_it_is_acknowledged_and_not_queued(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    body = legacy_body(realm="1234567890")

    receipt = receiver.receive(signed(body), body)

    assert receipt.unknown_realm == 1
    assert queue.sent == []


def test_given_changes_the_pull_ignores_when_received_then_they_are_acknowledged_only(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    body = cloud_events_body(
        {"id": "a", "type": "qbo.vendor.created.v1"}, {"id": "b", "type": "qbo.invoice.emailed.v1"}
    )

    receipt = receiver.receive(signed(body), body)

    assert receipt.ignored == 2
    assert queue.sent == []


def test_given_the_queue_fails_when_received_then_the_error_surfaces_and_a_resend_is_accepted(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    body = legacy_body()
    queue.fail = True
    with pytest.raises(StoreUnavailable):
        receiver.receive(signed(body), body)
    queue.fail = False

    receipt = receiver.receive(signed(body), body)

    assert receipt.queued == 1


def test_given_one_change_by_legacy_and_by_cloud_event_when_parsed_then_both_have_the_same_event_id(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    legacy = legacy_body(lastUpdated="2026-11-22T04:00:00.123Z")
    cloud = cloud_events_body({"time": "2026-11-22T04:00:00.123Z"})
    receiver.receive(signed(legacy), legacy)
    receiver.receive(signed(cloud), cloud)

    first, second = queue.messages()

    assert first.change.event_id == second.change.event_id


def test_given_the_queue_fails_when_received_then_no_change_is_marked(
    receiver: QboWebhookReceiver, queue: FakeQueue, marks: FakeMarks
) -> None:
    body = cloud_events_body({"id": "a"}, {"id": "b"})
    queue.fail = True

    with pytest.raises(StoreUnavailable):
        receiver.receive(signed(body), body)

    assert marks.seen == set()


def test_given_marks_fail_to_write_after_queueing_when_received_then_the_changes_are_still_acknowledged(
    receiver: QboWebhookReceiver, queue: FakeQueue, marks: FakeMarks
) -> None:
    body = cloud_events_body({"id": "a"}, {"id": "b"})
    marks.fail_writes = True

    receipt = receiver.receive(signed(body), body)

    assert receipt.queued == 2
    assert len(queue.sent) == 2


def test_given_one_change_twice_in_one_post_when_received_then_it_is_queued_once(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    body = cloud_events_body({"id": "same"}, {"id": "same"})

    receipt = receiver.receive(signed(body), body)

    assert (receipt.queued, receipt.duplicates) == (1, 1)
    assert len(queue.sent) == 1


def test_given_a_signed_realm_holding_a_key_separator_when_received_then_it_is_an_unknown_realm(
    receiver: QboWebhookReceiver, queue: FakeQueue
) -> None:
    body = legacy_body(realm="93414#TENANT#acme")

    receipt = receiver.receive(signed(body), body)

    assert receipt.unknown_realm == 1
    assert queue.sent == []


# --- gap signals: a refused body for a realm we serve, a late delivery ----------------------------------


def test_given_a_bad_signature_naming_a_served_realm_when_received_then_401_and_its_tenant_gets_a_gap(
    receiver: QboWebhookReceiver, queue: FakeQueue, gaps: FakeGaps
) -> None:
    body = legacy_body()
    headers = {
        "intuit-signature": expected_signature("a-rotated-token", body),
        "content-type": "application/json",
    }

    with pytest.raises(SignatureInvalid):
        receiver.receive(headers, body)

    assert queue.sent == []  # the change itself is not trusted, so not queued
    assert gaps.signalled == [("acme", GapReason.UNVERIFIED_WEBHOOK, datetime.fromtimestamp(NOW, UTC))]


def test_given_a_bad_signature_naming_realms_no_tenant_owns_when_received_then_no_gap(
    receiver: QboWebhookReceiver, gaps: FakeGaps
) -> None:
    for body in (legacy_body(realm="1234567890"), legacy_body(realm="9341#TENANT#acme"), b"{not json"):
        with pytest.raises(SignatureInvalid):
            receiver.receive({"intuit-signature": "forged"}, body)

    assert gaps.signalled == []


def test_given_no_signature_when_received_then_no_gap_is_signalled(
    receiver: QboWebhookReceiver, gaps: FakeGaps
) -> None:
    with pytest.raises(SignatureMissing):
        receiver.receive({"content-type": "application/json"}, legacy_body())

    assert gaps.signalled == []


def test_given_a_forged_body_naming_many_realms_when_refused_then_only_the_first_ten_are_looked_up(
    queue: FakeQueue, marks: FakeMarks, gaps: FakeGaps
) -> None:
    looked_up: list[str] = []

    class CountingRealms(FakeRealms):
        def get_by_realm(self, realm_id: str) -> object | None:
            looked_up.append(realm_id)
            return super().get_by_realm(realm_id)

    realms = [str(1000 + n) for n in range(50)] + [REALM]
    document = [{"intuitaccountid": realm, "id": "x"} for realm in realms]
    hook = QboWebhookReceiver(
        secrets=FakeSecrets(), realms=CountingRealms(), marks=marks, queue=queue, gaps=gaps
    )

    with pytest.raises(SignatureInvalid):
        hook.receive({"intuit-signature": "forged"}, json.dumps(document).encode())

    assert looked_up == realms[:MAX_CLAIMED_REALMS]
    assert gaps.signalled == []  # the served realm came after the bound


def test_given_the_gap_cannot_be_sent_when_a_bad_signature_comes_then_the_reply_is_still_401(
    receiver: QboWebhookReceiver, gaps: FakeGaps
) -> None:
    gaps.fail = True

    with pytest.raises(SignatureInvalid) as raised:
        receiver.receive({"intuit-signature": "forged"}, legacy_body())

    assert raised.value.status == 401


@pytest.mark.parametrize(
    ("made_minutes_before", "late"), [(5, False), (15, False), (16, True), (6 * 60, True)]
)
def test_given_a_verified_change_when_it_arrives_long_after_qbo_made_it_then_its_tenant_gets_a_late_gap(
    receiver: QboWebhookReceiver, queue: FakeQueue, gaps: FakeGaps, made_minutes_before: int, late: bool
) -> None:
    made = datetime.fromtimestamp(NOW, UTC) - timedelta(minutes=made_minutes_before)
    body = cloud_events_body({"id": "a", "time": made.isoformat()}, {"id": "b", "time": made.isoformat()})

    receipt = receiver.receive(signed(body), body)

    assert receipt.queued == 2  # the late changes themselves are applied as usual
    assert receipt.late == (2 if late else 0)
    expected = [("acme", GapReason.LATE_WEBHOOK, datetime.fromtimestamp(NOW, UTC))] if late else []
    assert gaps.signalled == expected  # one gap per tenant, however many late changes


def test_given_no_gap_collaborator_when_a_late_change_comes_then_a_gap_notice_goes_on_the_pull_queue(
    queue: FakeQueue, marks: FakeMarks
) -> None:
    hook = QboWebhookReceiver(
        secrets=FakeSecrets(), realms=FakeRealms(), marks=marks, queue=queue, clock=lambda: NOW
    )
    made = datetime.fromtimestamp(NOW, UTC) - timedelta(hours=2)
    body = cloud_events_body({"time": made.isoformat()})

    hook.receive(signed(body), body)

    change, notice = queue.sent
    assert gap_notice_of(change) is None
    assert gap_notice_of(notice) == GapNotice(
        tenant_id="acme", reason=GapReason.LATE_WEBHOOK, detected_at=datetime.fromtimestamp(NOW, UTC)
    )


def test_given_two_notices_for_one_tenant_when_sent_then_one_body_is_queued(queue: FakeQueue) -> None:
    QueuedGapSignals(queue).signal(
        ["acme", "acme"], GapReason.UNVERIFIED_WEBHOOK, datetime.fromtimestamp(NOW, UTC)
    )

    assert len(queue.sent) == 1


def test_given_a_change_time_without_a_zone_when_received_then_it_is_queued_and_not_judged_late(
    receiver: QboWebhookReceiver, queue: FakeQueue, gaps: FakeGaps
) -> None:
    body = cloud_events_body({"time": "2020-01-01T00:00:00"})

    receipt = receiver.receive(signed(body), body)

    assert (receipt.queued, receipt.late, gaps.signalled) == (1, 0, [])
