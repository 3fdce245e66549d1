"""Client mistakes found in review that used to be 500s: each is now a clear 4xx, or simply works."""

# ruff: noqa: F811  (the admin_api fixture is imported from the support module)

from __future__ import annotations

import base64
import json
from typing import Any

from qbosync.source.models import ReferenceEntry
from qbosync.store.table import MainTable
from tests.support.admin_api import TENANT_A, TENANT_B, AdminApi, admin_api  # noqa: F401

BASE = f"/tenants/{TENANT_A}"
CLEF = "\U0001d11e"  # four bytes in UTF-8, twelve as a JSON \\u escape pair


def _rows(count: int, marker: str) -> list[dict[str, str]]:
    return [{"source_key": f"{marker}{n:04d}" + CLEF * 58, "qbo_id": "1"} for n in range(count)]


def _put_mapping(api: AdminApi, rows: list[dict[str, str]], if_match: str) -> tuple[int, dict[str, str], Any]:
    # The source lists every code these rows map from, so only the size is on trial here.
    api.source.gl_codes = [ReferenceEntry(code=row["source_key"], name=row["source_key"]) for row in rows]
    return api.call("PUT", f"{BASE}/mappings/gl-codes", body={"rows": rows}, headers={"If-Match": if_match})


def test_given_a_put_settings_body_that_is_not_utf8_when_sent_then_400_malformed_json(
    admin_api: AdminApi,
) -> None:
    status, _headers, body = admin_api.call(
        "PUT", f"{BASE}/settings", binary_body=b'{"sync": "\xff\xfe"}', headers={"If-Match": '"0"'}
    )

    assert (status, body["error"]["code"]) == (400, "malformed_json")


def test_given_2000_rows_of_four_byte_characters_when_put_then_they_are_stored_and_read_back(
    admin_api: AdminApi,
) -> None:
    rows = _rows(2000, "A")

    status, _headers, body = _put_mapping(admin_api, rows, '"0"')
    stored, tag = admin_api.read(f"{BASE}/mappings/gl-codes")

    assert status == 200, body
    assert (len(stored["rows"]), stored["rows"][0]["source_key"], tag) == (2000, rows[0]["source_key"], '"1"')


def test_given_a_2000_row_mapping_when_replaced_by_another_then_it_is_stored_and_audited_in_bounds(
    admin_api: AdminApi,
) -> None:
    assert _put_mapping(admin_api, _rows(2000, "A"), '"0"')[0] == 200

    status, _headers, body = _put_mapping(admin_api, _rows(2000, "B"), '"1"')
    audit, _tag = admin_api.read(f"{BASE}/audit")

    assert status == 200, body
    newest = audit["entries"][0]
    assert (newest["target"], newest["version"]) == ("mappings/gl-codes", 2)
    summary = newest["summary"]
    assert (summary["rows_before"], summary["added"], summary["removed"], summary["changed"]) == (
        2000,
        2000,
        2000,
        0,
    )
    assert (len(newest["before"]), len(newest["after"])) == (100, 100)


def test_given_an_events_cursor_naming_another_partition_when_listed_then_400_invalid_cursor(
    admin_api: AdminApi,
) -> None:
    foreign = {
        "pk": {"S": f"TENANT#{TENANT_B}"},
        "sk": {"S": "EVENT#x"},
        "gsi1pk": {"S": "x"},
        "gsi1sk": {"S": "y"},
    }
    cursor = base64.urlsafe_b64encode(json.dumps(foreign).encode()).decode()

    status, _headers, body = admin_api.call("GET", f"{BASE}/sync/events", query={"cursor": cursor})

    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


def test_given_an_events_cursor_with_keys_the_index_does_not_have_when_listed_then_400_invalid_cursor(
    admin_api: AdminApi,
) -> None:
    foreign = {"id": {"S": "x"}, "other": {"N": "1"}}
    cursor = base64.urlsafe_b64encode(json.dumps(foreign).encode()).decode()

    status, _headers, body = admin_api.call("GET", f"{BASE}/sync/events", query={"cursor": cursor})

    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


def test_given_the_table_when_a_2000_row_mapping_is_stored_then_no_item_nears_dynamodbs_400_kb(
    admin_api: AdminApi,
) -> None:
    _put_mapping(admin_api, _rows(2000, "A"), '"0"')
    _put_mapping(admin_api, _rows(2000, "B"), '"1"')

    def item_size(item: dict[str, Any]) -> int:
        return sum(
            len(name)
            + (len(value.value) if hasattr(value, "value") else len(json.dumps(value, ensure_ascii=False)))
            for name, value in item.items()
        )

    sizes = [item_size(item) for item in MainTable().query_all(f"TENANT#{TENANT_A}")]

    assert max(sizes) < 400_000
