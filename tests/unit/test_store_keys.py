"""Key builders and value conversion of qbosync.store.table: pure functions, no AWS."""

from __future__ import annotations

from decimal import Decimal

import pytest

from qbosync.errors import BadRequest
from qbosync.store.table import (
    decode_cursor,
    deserialize,
    encode_cursor,
    event_sk,
    events_gsi1pk,
    link_gsi1pk,
    link_sk,
    realm_pk,
    serialize,
    tenant_pk,
)


def test_given_the_architecture_table_when_building_keys_then_they_match_it() -> None:
    assert tenant_pk("t1") == "TENANT#t1"
    assert realm_pk("9130") == "REALM#9130"
    assert link_sk("customer", "c-1") == "LINK#customer#c-1"
    assert link_gsi1pk("t1", "customer") == "TENANT#t1#QBO#customer"
    assert event_sk("e1") == "EVENT#e1"
    assert events_gsi1pk("t1", "failed") == "TENANT#t1#EVENTS#failed"


@pytest.mark.parametrize("bad", ["", "a#b"])
def test_given_an_ambiguous_tenant_id_when_building_a_key_then_it_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        tenant_pk(bad)


def test_given_a_source_id_with_separators_when_building_a_link_key_then_it_is_kept_whole() -> None:
    assert link_sk("customer", "a#b") == "LINK#customer#a#b"


def test_given_floats_when_serialized_then_they_become_exact_decimals() -> None:
    assert serialize({"f": 0.1, "none": None}) == {"f": {"N": "0.1"}}


def test_given_stored_numbers_when_deserialized_then_ints_and_floats_come_back() -> None:
    assert deserialize({"i": {"N": "3"}, "f": {"N": "2.5"}}) == {"i": 3, "f": 2.5}
    assert isinstance(deserialize({"i": {"N": "3"}})["i"], int)
    assert not isinstance(deserialize({"f": {"N": "2.5"}})["f"], Decimal)


def test_given_a_last_evaluated_key_when_encoded_and_decoded_then_it_round_trips() -> None:
    key = {"pk": {"S": "TENANT#t1"}, "sk": {"S": "LINK#customer#c-1"}}

    assert decode_cursor(encode_cursor(key)) == key
    assert encode_cursor(None) is None


@pytest.mark.parametrize("bad", ["not base64!", "bm90IGpzb24=", "WzFd"])
def test_given_a_tampered_cursor_when_decoded_then_bad_request(bad: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(bad)
