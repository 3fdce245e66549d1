"""SandboxConfig: production defaults, file + flag layering, validation, the webhook retry schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from local.qbo_sandbox.__main__ import _parser, overrides_from
from local.qbo_sandbox.config import INTUIT_WEBHOOK_RETRY_SCHEDULE, SandboxConfig, load_config


def test_given_no_settings_when_built_then_limits_and_lifetimes_are_intuit_production_values() -> None:
    config = SandboxConfig()

    assert (config.requests_per_window, config.rate_window_seconds, config.max_concurrent) == (500, 60.0, 10)
    assert config.batch_requests_per_window == 40
    assert (config.access_token_ttl_seconds, config.refresh_token_ttl_seconds) == (3600, 8_726_400)
    assert config.strict_refresh_rotation is False
    assert (config.refresh_token_rotation_seconds, config.effective_refresh_grace_seconds) == (86_400, 86_400)
    assert SandboxConfig(strict_refresh_rotation=True).effective_refresh_grace_seconds == 0
    assert config.authorization_code_ttl_seconds == 300
    assert config.retry_after_seconds is None
    assert config.webhook_url is None


def test_given_no_settings_when_built_then_there_are_two_named_companies() -> None:
    config = SandboxConfig()

    assert config.realm_count == 2
    assert len(config.company_names) == 2


def test_given_more_realms_than_names_when_built_then_names_are_made_up_for_the_rest() -> None:
    config = SandboxConfig(realm_count=4, company_names=["Acme"])

    assert config.company_names[0] == "Acme"
    assert len(set(config.company_names)) == 4


def test_given_a_redirect_uri_with_a_query_when_built_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        SandboxConfig(redirect_uris=["https://app.example.test/cb?x=1"])


def test_given_an_error_rate_above_one_when_built_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        SandboxConfig.model_validate({"faults": {"error_rate": 1.5}})


def test_given_an_unknown_setting_when_built_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        SandboxConfig.model_validate({"requests_per_minute": 10})


def test_given_the_default_schedule_when_asking_delays_then_they_are_qbos_and_repeat_the_last() -> None:
    config = SandboxConfig()

    delays = [config.webhook_delay(attempt) for attempt in range(11)]

    assert delays[:9] == INTUIT_WEBHOOK_RETRY_SCHEDULE
    assert delays[9:] == [21600.0, 21600.0]


def test_given_a_compression_factor_when_asking_delays_then_they_shrink_by_it() -> None:
    config = SandboxConfig(webhook_retry_compression=0.001)

    assert config.webhook_delay(1) == pytest.approx(0.01)


def test_given_a_file_and_overrides_when_loading_then_overrides_win_and_faults_merge(tmp_path: Path) -> None:
    config_file = tmp_path / "sandbox.json"
    config_file.write_text(
        json.dumps({"client_id": "file-id", "seed": 5, "faults": {"error_rate": 0.1, "latency_ms": 20}})
    )

    config = load_config(config_file, {"client_id": "flag-id", "faults": {"latency_ms": 50}})

    assert (config.client_id, config.seed) == ("flag-id", 5)
    assert (config.faults.error_rate, config.faults.latency_ms) == (0.1, 50)


def test_given_a_file_holding_a_list_when_loading_then_it_is_refused(tmp_path: Path) -> None:
    config_file = tmp_path / "sandbox.json"
    config_file.write_text("[1, 2]")

    with pytest.raises(ValueError, match="JSON object"):
        load_config(config_file)


def test_given_cli_flags_when_turned_into_overrides_then_only_given_ones_appear_and_faults_nest() -> None:
    args = _parser().parse_args(
        [
            *("--port", "0", "--redirect-uri", "https://a.test/cb", "--redirect-uri", "https://b.test/cb"),
            *("--latency-ms", "25", "--fault-drop-rate", "0.5", "--auto-consent"),
        ]
    )

    overrides = overrides_from(args)

    assert overrides == {
        "redirect_uris": ["https://a.test/cb", "https://b.test/cb"],
        "auto_consent": True,
        "faults": {"latency_ms": 25, "drop_after_commit_rate": 0.5},
    }


def test_given_the_strict_rotation_flag_when_loaded_then_rotation_is_strict_and_without_grace() -> None:
    config = load_config(None, overrides_from(_parser().parse_args(["--strict-refresh-rotation"])))

    assert config.strict_refresh_rotation is True
    assert config.effective_refresh_grace_seconds == 0


def test_given_strict_rotation_and_an_explicit_grace_when_built_then_the_explicit_grace_wins() -> None:
    config = SandboxConfig(strict_refresh_rotation=True, refresh_token_grace_seconds=60)

    assert config.effective_refresh_grace_seconds == 60


def test_given_a_webhook_url_without_a_scheme_when_built_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        SandboxConfig(webhook_url="receiver.test/hooks")
