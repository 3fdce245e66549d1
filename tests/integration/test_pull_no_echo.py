"""No echo: what qbosync writes to QBO comes back as a QBO webhook, and nothing more is written anywhere."""

from __future__ import annotations

from typing import Any

from qbosync.store.links import LinkRepository
from tests.integration.test_reconcile_both_ways import _after_a_previous_run, _source_change
from tests.support.pull_world import TENANT, PullWorld, pull_world_fixture  # noqa: F401 (fixture)


def _push_source_changes(world: PullWorld) -> None:
    """The source → QBO customer push (the push's QboReferences, run by reconciliation)."""
    world.reconciler().reconcile_tenant(TENANT)


def _counts(world: PullWorld) -> tuple[int, int]:
    return world.qbo_writes(), world.source_creations()


def test_given_a_customer_pushed_to_qbo_when_its_qbo_webhook_is_pulled_then_nothing_is_written_anywhere(
    pull_world: PullWorld,
) -> None:
    _after_a_previous_run(pull_world)
    created = _source_change(pull_world, "POST", "customers", {"display_name": "Echo Free Ltd"})
    _push_source_changes(pull_world)
    link = LinkRepository().get(TENANT, "Customer", created["id"])
    assert link is not None and link.origin == "qbosync"
    before = _counts(pull_world)

    pull_world.deliver_qbo_webhooks()
    assert pull_world.run_pull_worker() == []

    assert pull_world.hook.replies == [200]
    assert _counts(pull_world) == before
    assert [event.kind for event in pull_world.events("done")] == ["qbo.customer"]


def test_given_a_source_edit_pushed_to_qbo_when_its_qbo_webhook_is_pulled_then_nothing_is_written_anywhere(
    pull_world: PullWorld,
) -> None:
    _after_a_previous_run(pull_world)
    created = _source_change(pull_world, "POST", "customers", {"display_name": "Edited Twice Co"})
    _push_source_changes(pull_world)
    pull_world.deliver_qbo_webhooks()
    pull_world.run_pull_worker()
    edited: dict[str, Any] = _source_change(
        pull_world, "PUT", f"customers/{created['id']}", {"email": "new@edited.example"}
    )
    _push_source_changes(pull_world)
    link = LinkRepository().get(TENANT, "Customer", created["id"])
    assert link is not None and link.source_version == edited["version"]
    qbo_row = pull_world.qbo_sandbox.companies[pull_world.realm_id].records["Customer"][link.qbo_id]
    assert qbo_row["PrimaryEmailAddr"]["Address"] == "new@edited.example"
    before = _counts(pull_world)

    pull_world.deliver_qbo_webhooks()
    assert pull_world.run_pull_worker() == []

    assert _counts(pull_world) == before


def test_given_a_customer_pulled_from_qbo_when_reconciled_then_it_is_not_pushed_back(
    pull_world: PullWorld,
) -> None:
    _after_a_previous_run(pull_world)
    pull_world.qbo_customer(DisplayName="Born In QBO")
    pull_world.deliver_qbo_webhooks()
    pull_world.run_pull_worker()
    before = _counts(pull_world)

    _push_source_changes(pull_world)

    assert _counts(pull_world) == before
    assert pull_world.push_messages() == []
