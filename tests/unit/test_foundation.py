"""The foundation's own behaviour: settings parsing, error bodies, secret masking."""

from __future__ import annotations

import pytest

from qbosync.errors import Conflict, NotConnected, ValidationFailed
from qbosync.observability import MASK, is_secret_key, mask_secrets
from qbosync.settings import get_qbo_limits, get_settings


def test_given_no_environment_when_settings_are_read_then_intuit_production_limits_apply() -> None:
    limits = get_qbo_limits()
    assert (limits.requests_per_window, limits.window_seconds, limits.max_concurrent) == (500, 60.0, 10)
    assert limits.batch_max_items == 30


def test_given_environment_overrides_when_settings_are_read_then_they_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TABLE_NAME", "qbosync-test")
    monkeypatch.setenv("QBO_LIMIT_WINDOW_SECONDS", "2.5")
    get_settings.cache_clear()
    get_qbo_limits.cache_clear()
    assert get_settings().table_name == "qbosync-test"
    assert get_qbo_limits().window_seconds == 2.5


def test_given_a_minor_version_below_75_when_settings_are_read_then_it_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QBO_MINOR_VERSION", "65")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="QBO_MINOR_VERSION"):
        get_settings()


def test_given_a_tenant_when_secret_names_are_built_then_they_sit_under_the_prefix() -> None:
    settings = get_settings()
    assert settings.tenant_token_secret_name("t-1") == "qbosync/local/tenants/t-1/qbo-tokens"


def test_given_an_error_when_it_is_shaped_then_the_body_follows_the_http_contract() -> None:
    error = ValidationFailed("2 rows are invalid", details=[{"row": "CASH", "reason": "inactive"}])
    assert error.status == 422
    assert error.to_body() == {
        "error": {
            "code": "validation_failed",
            "message": "2 rows are invalid",
            "details": [{"row": "CASH", "reason": "inactive"}],
        }
    }


def test_given_a_specialised_conflict_then_it_keeps_409_with_its_own_code() -> None:
    assert NotConnected("no connection").status == Conflict.status
    assert NotConnected("no connection").code == "not_connected"


@pytest.mark.parametrize(
    "key", ["access_token", "refresh_token", "client_secret", "intuit-signature", "Authorization", "code"]
)
def test_given_a_secret_key_then_it_is_recognised(key: str) -> None:
    assert is_secret_key(key)


def test_given_nested_data_with_secrets_when_masked_then_only_secret_values_change() -> None:
    masked = mask_secrets({"realm_id": "123", "grant": {"access_token": "eyJ", "expires_in": 3600}})
    assert masked == {"realm_id": "123", "grant": {"access_token": MASK, "expires_in": 3600}}


@pytest.mark.parametrize("key", ["fault_code", "status_code", "realm_id", "doc_number"])
def test_given_an_ordinary_key_then_it_is_not_masked(key: str) -> None:
    assert not is_secret_key(key)
