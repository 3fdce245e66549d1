"""Schema versions: how writes are stamped and how old items are upgraded on read (no AWS)."""

from __future__ import annotations

from typing import Any

from qbosync.store.schema import SCHEMA_ATTRIBUTE, SCHEMA_VERSION, upgraded
from qbosync.store.table import Condition, stamped, stamped_update


def test_given_an_item_when_stamped_then_it_carries_the_current_version() -> None:
    assert stamped({"pk": "A", "sk": "1"}) == {"pk": "A", "sk": "1", SCHEMA_ATTRIBUTE: SCHEMA_VERSION}


def test_given_an_update_with_a_set_clause_when_stamped_then_the_version_joins_that_clause() -> None:
    update = stamped_update(Condition("SET #n = :n REMOVE old", names={"#n": "name"}, values={":n": "x"}))

    assert update.expression == "SET #qbosync_schema_version = :qbosync_schema_version, #n = :n REMOVE old"
    assert update.names == {"#n": "name", "#qbosync_schema_version": SCHEMA_ATTRIBUTE}
    assert update.values == {":n": "x", ":qbosync_schema_version": SCHEMA_VERSION}


def test_given_an_update_without_a_set_clause_when_stamped_then_one_is_added() -> None:
    update = stamped_update(Condition("ADD hits :one", values={":one": 1}))

    assert update.expression == "SET #qbosync_schema_version = :qbosync_schema_version ADD hits :one"


def test_given_an_item_of_version_1_when_upgraded_then_each_step_runs_once_in_order() -> None:
    seen: list[int] = []

    def step(item: dict[str, Any]) -> dict[str, Any]:
        seen.append(1)
        return {**item, "state": "active"}

    assert upgraded({"pk": "A"}, {1: step}) == {"pk": "A", "state": "active"}
    assert seen == [1]


def test_given_a_current_or_newer_item_when_upgraded_then_it_is_read_as_it_is() -> None:
    def step(item: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("no step applies to a current item")

    current = {"pk": "A", SCHEMA_ATTRIBUTE: SCHEMA_VERSION}
    newer = {"pk": "A", SCHEMA_ATTRIBUTE: SCHEMA_VERSION + 1, "unknown": True}
    assert upgraded(current, {1: step}) == current
    assert upgraded(newer, {1: step}) == newer
