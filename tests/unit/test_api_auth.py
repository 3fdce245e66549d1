"""Admin claims and If-Match parsing, without any I/O."""

from __future__ import annotations

import pytest

from qbosync.api.auth import admin_principal, jwt_claims, parse_tenants_claim
from qbosync.api.concurrency import etag, expected_version
from qbosync.errors import BadRequest, PreconditionRequired, Unauthorized


@pytest.mark.parametrize(
    "claim",
    ["acme-law globex-msp", "[acme-law globex-msp]", ["acme-law", "globex-msp"], "[acme-law, globex-msp]"],
)
def test_given_a_tenants_claim_in_any_accepted_shape_when_parsed_then_both_tenants_are_granted(
    claim: object,
) -> None:
    assert parse_tenants_claim(claim) == frozenset({"acme-law", "globex-msp"})


def test_given_no_tenants_claim_when_parsed_then_nothing_is_granted() -> None:
    assert admin_principal({"sub": "admin-1"}).tenants == frozenset()


def test_given_claims_without_sub_when_read_then_unauthorized() -> None:
    with pytest.raises(Unauthorized):
        admin_principal({"qbosync_tenants": "acme-law"})


def test_given_an_event_without_an_authorizer_when_claims_are_read_then_there_are_none() -> None:
    assert jwt_claims({"requestContext": {"http": {"method": "GET"}}}) == {}


def test_given_an_event_with_jwt_claims_when_read_then_they_are_returned() -> None:
    event = {"requestContext": {"authorizer": {"jwt": {"claims": {"sub": "a"}, "scopes": None}}}}

    assert jwt_claims(event) == {"sub": "a"}


@pytest.mark.parametrize(("header", "version"), [('"3"', 3), ('W/"3"', 3), ("3", 3), (' "0" ', 0)])
def test_given_an_etag_we_issued_when_sent_as_if_match_then_its_version_is_read(
    header: str, version: int
) -> None:
    assert expected_version(header) == version


def test_given_no_if_match_when_read_then_precondition_required() -> None:
    with pytest.raises(PreconditionRequired):
        expected_version(None)


def test_given_an_if_match_that_is_not_ours_when_read_then_bad_request() -> None:
    with pytest.raises(BadRequest):
        expected_version("*")


def test_given_a_version_when_made_an_etag_then_it_is_quoted() -> None:
    assert etag(7) == '"7"'
