"""Configuration documents in the table: compressed, readable when written the old way, audits bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from qbosync.store.config import (
    AUDIT_DIFF_ROWS,
    AuditRecord,
    AuditRepository,
    MappingRepository,
    bounded_change,
)
from qbosync.store.table import MainTable


def test_given_a_mapping_stored_as_plain_json_before_compression_when_read_then_its_rows_come_back(
    main_table: str,
) -> None:
    rows = [{"source_key": "4000", "qbo_id": "1"}]
    MainTable().put(
        {"pk": "TENANT#acme", "sk": "MAPPINGS#gl-codes", "document": json.dumps(rows), "version": 3}
    )

    stored = MappingRepository().get("acme", "gl-codes")

    assert stored is not None
    assert (stored.document, stored.version) == (rows, 3)


def test_given_a_small_change_when_bounded_then_both_sides_are_kept_verbatim() -> None:
    before, after = [{"source_key": "a", "qbo_id": "1"}], [{"source_key": "a", "qbo_id": "2"}]

    assert bounded_change(before, after) == (before, after, None)


def test_given_a_large_mapping_change_when_audited_then_the_entry_keeps_a_bounded_diff_and_full_counts(
    main_table: str,
) -> None:
    before = [{"source_key": f"k{n:05d}" + "x" * 50, "qbo_id": "1"} for n in range(3000)]
    after = [*before[:2900], *({"source_key": f"new{n}", "qbo_id": "2"} for n in range(150))]
    after[0] = {**after[0], "qbo_id": "9"}
    record = AuditRecord(
        "admin", "replace", "mappings/gl-codes", before, after, datetime(2026, 11, 22, tzinfo=UTC)
    )

    MappingRepository().replace("acme", "gl-codes", after, 0, record)
    [entry], _cursor = AuditRepository().list("acme")

    assert entry.summary is not None
    assert {
        key: entry.summary[key] for key in ("rows_before", "rows_after", "added", "removed", "changed")
    } == {
        "rows_before": 3000,
        "rows_after": 3050,
        "added": 150,
        "removed": 100,
        "changed": 1,
    }
    assert len(entry.before) == len(entry.after) == AUDIT_DIFF_ROWS
