"""MainTable against moto: typed errors, number round-trips, transactions and batches."""

from __future__ import annotations

import pytest

from qbosync.store.schema import SCHEMA_VERSION
from qbosync.store.table import Condition, ConditionFailed, MainTable, StoreUnavailable


def test_given_an_item_when_put_with_a_failing_condition_then_condition_failed(main_table: str) -> None:
    table = MainTable()
    table.put({"pk": "A", "sk": "1"})

    with pytest.raises(ConditionFailed):
        table.put({"pk": "A", "sk": "1"}, condition=Condition("attribute_not_exists(pk)"))


def test_given_numbers_when_stored_and_read_then_ints_floats_and_nesting_survive(main_table: str) -> None:
    table = MainTable()

    table.put({"pk": "A", "sk": "1", "n": 3, "f": 0.1, "nested": {"list": [1, 2.5, "x"]}, "skip": None})

    assert table.get("A", "1") == {
        "pk": "A",
        "sk": "1",
        "n": 3,
        "f": 0.1,
        "nested": {"list": [1, 2.5, "x"]},
        "schema_version": SCHEMA_VERSION,
    }


def test_given_a_transaction_with_one_failing_condition_then_nothing_is_written_and_the_item_is_named(
    main_table: str,
) -> None:
    table = MainTable()
    table.put({"pk": "A", "sk": "taken"})

    with pytest.raises(ConditionFailed) as failed:
        table.transact_write(
            [
                table.put_op({"pk": "A", "sk": "new"}),
                table.put_op({"pk": "A", "sk": "taken"}, condition=Condition("attribute_not_exists(pk)")),
            ]
        )

    assert failed.value.failed_at(1) and not failed.value.failed_at(0)
    assert table.get("A", "new") is None


def test_given_a_missing_table_when_reading_then_store_unavailable(main_table: str) -> None:
    with pytest.raises(StoreUnavailable):
        MainTable(table_name="no-such-table").get("A", "1")


def test_given_an_update_when_applied_then_the_new_item_is_returned(main_table: str) -> None:
    table = MainTable()

    updated = table.update("A", "1", Condition("ADD hits :one", values={":one": 1}))

    assert updated == {"pk": "A", "sk": "1", "hits": 1, "schema_version": SCHEMA_VERSION}


def test_given_a_delete_when_the_item_exists_then_the_old_item_is_returned(main_table: str) -> None:
    table = MainTable()
    table.put({"pk": "A", "sk": "1", "v": "x"})

    assert table.delete("A", "1") == {"pk": "A", "sk": "1", "v": "x", "schema_version": SCHEMA_VERSION}
    assert table.delete("A", "1") is None


def test_given_more_items_than_one_batch_when_batch_put_then_all_are_written(main_table: str) -> None:
    table = MainTable()

    table.batch_put([{"pk": "B", "sk": f"{n:03d}"} for n in range(60)], sleep=lambda _: None)

    assert len(list(table.query_all("B"))) == 60


def test_given_more_keys_than_one_batch_when_batch_get_then_only_the_existing_items_come_back(
    main_table: str,
) -> None:
    table = MainTable()
    table.batch_put([{"pk": f"P#{n}", "sk": "S", "n": n} for n in range(0, 250, 2)], sleep=lambda _: None)

    found = table.batch_get([(f"P#{n}", "S") for n in range(250)], sleep=lambda _: None)

    assert sorted(item["n"] for item in found) == list(range(0, 250, 2))
