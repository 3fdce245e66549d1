"""Records that several changes of one pull batch name are read from QBO with one query, not one read each."""

from __future__ import annotations

from collections import Counter
from typing import Any

from qbosync.sync.pull.context import BATCH_READS
from qbosync.sync.records.messages import PullMessage
from tests.support.pull_world import PullWorld, pull_world_fixture  # noqa: F401 (fixture)


def _qbo_reads(world: PullWorld) -> Counter[str]:
    """GETs QBO received so far, by endpoint (``GET query``, ``GET customer``, ...)."""
    stats = world.qbo_http.get("/_sandbox/stats").json()
    return Counter(
        {
            endpoint: count
            for endpoint, count in stats["requests_by_endpoint"].items()
            if endpoint.startswith("GET ")
        }
    )


def _headers(world: PullWorld) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.vault.access_token()}", "Accept": "application/json"}


def _deactivate(world: PullWorld, customer: dict[str, Any]) -> None:
    world.qbo_http.post(
        f"/v3/company/{world.realm_id}/customer",
        json={"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True, "Active": False},
        headers=_headers(world),
    ).raise_for_status()


def test_given_three_customers_created_in_qbo_when_one_batch_pulls_them_then_one_query_reads_all_three(
    pull_world: PullWorld,
) -> None:
    created = [pull_world.qbo_customer(DisplayName=f"Together {n} Ltd") for n in range(3)]
    pull_world.deliver_qbo_webhooks()
    before = _qbo_reads(pull_world)

    assert pull_world.run_pull_worker() == []

    reads = _qbo_reads(pull_world) - before
    assert reads == Counter({"GET query": 1})
    names = {customer.display_name for customer in pull_world.source_customers()}
    assert {f"Together {n} Ltd" for n in range(3)} <= names
    assert all(pull_world.link_of_qbo("Customer", customer["Id"]) is not None for customer in created)


def test_given_one_customer_changed_when_its_batch_is_pulled_then_it_is_read_by_id_as_before(
    pull_world: PullWorld,
) -> None:
    pull_world.qbo_customer(DisplayName="Alone Ltd")
    pull_world.deliver_qbo_webhooks()
    before = _qbo_reads(pull_world)

    assert pull_world.run_pull_worker() == []

    assert _qbo_reads(pull_world) - before == Counter({"GET customer": 1})


def test_given_a_kept_an_inactive_and_a_missing_customer_when_read_together_then_each_has_its_own_outcome(
    pull_world: PullWorld,
) -> None:
    kept = pull_world.qbo_customer(DisplayName="Kept Ltd")
    inactive = pull_world.qbo_customer(DisplayName="Inactive Ltd")
    pull_world.deliver_qbo_webhooks()
    messages = {
        body["change"]["entity_id"]: PullMessage.model_validate(body) for body in pull_world.pull_messages()
    }
    _deactivate(pull_world, inactive)
    # A change of a record QBO no longer has: the query leaves it out, as a read by id would find nothing.
    template = messages[kept["Id"]]
    missing = template.model_copy(
        update={"change": template.change.model_copy(update={"entity_id": "999999", "dedupe_key": "missing"})}
    )
    batch = [messages[kept["Id"]], messages[inactive["Id"]], missing]
    service = pull_world.pull_service()
    before = _qbo_reads(pull_world)

    with service.reading_together(batch) as grouped:
        outcomes = [service.apply(message) for message in batch]

    assert [(outcome.status, outcome.reason) for outcome in outcomes[1:]] == [
        ("skipped", "an inactive QBO customer is not created in the source"),
        ("skipped", "an unlinked QBO customer was deleted"),
    ]
    assert outcomes[0].status == "applied"
    assert grouped.queries == 1
    assert _qbo_reads(pull_world) - before == Counter({"GET query": 1})
    assert BATCH_READS.get() is None  # the batch's rows are not kept for the next batch
