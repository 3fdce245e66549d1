"""200 source changes of every kind, each webhook delivered 1-3 times in shuffled order, with QBO
failing 5% of calls (5xx) and dropping 2% of answers after committing: QBO ends exactly as the source."""

from __future__ import annotations

from tests.support.push_world import Storm, push_world


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
