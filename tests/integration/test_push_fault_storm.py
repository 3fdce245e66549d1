"""200 source changes of every kind, each webhook delivered 1-3 times in shuffled order, with QBO
failing 5% of calls (5xx) and dropping 2% of answers after committing, or with workers dying between
writes' intents and outcomes: QBO ends exactly as the source."""

from __future__ import annotations

from tests.support.push_world import CrashPoint, Storm, WorkerCrashes, push_world


def test_given_a_fault_storm_when_200_changes_are_pushed_then_qbo_equals_the_source_exactly(
    main_table: str,
) -> None:
    with push_world(customers=15, products=6) as world:
        world.configure()
        world.qbo_faults(error_rate=0.05, drop_after_commit_rate=0.02)

        report = Storm(world, seed=11).run(changes=200, per_round=25)
        unfinished = (
            world.events.list(world.tenant_id, "failed").items
            + world.events.list(world.tenant_id, "parked").items
        )

    assert report.problems == []
    assert unfinished == []
    assert (report.duplicates, report.missing, report.mismatched) == (0, 0, 0)
    assert report.changes == 200 and report.deliveries > 200


def test_given_workers_dying_between_intent_and_outcome_when_200_changes_are_pushed_then_qbo_is_the_source(
    main_table: str,
) -> None:
    crashes = WorkerCrashes(rate=0.1, seed=5)
    with push_world(customers=15, products=6, crashes=crashes) as world:
        world.configure()

        report = Storm(world, seed=11).run(changes=200, per_round=25)
        unfinished = (
            world.events.list(world.tenant_id, "failed").items
            + world.events.list(world.tenant_id, "parked").items
        )
        still_open = list(world.ledger.ambiguous(world.tenant_id))

    assert set(crashes.by_point) == {point.name for point in CrashPoint}  # every point was hit
    assert crashes.resolutions > 0
    assert report.problems == []
    assert unfinished == []
    assert still_open == []
    assert (report.duplicates, report.missing, report.mismatched) == (0, 0, 0)
