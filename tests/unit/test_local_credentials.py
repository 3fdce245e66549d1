"""The local runtime's made-up credentials: every tenant gets its own source key and webhook secret."""

from __future__ import annotations

from local.runtime.persistence import LocalCredentials
from local.source_sandbox.__main__ import config_from_args, parse_args


def test_given_two_tenants_when_their_source_credentials_are_derived_then_they_differ_and_stay_stable() -> (
    None
):
    credentials = LocalCredentials.generate()

    acme, globex = (
        credentials.tenant_source_credentials("acme"),
        credentials.tenant_source_credentials("globex"),
    )

    assert acme[0] != globex[0] and acme[1] != globex[1]
    assert credentials.tenant_source_credentials("acme") == acme
    assert acme != LocalCredentials.generate().tenant_source_credentials("acme")


def test_given_tenant_credentials_as_arguments_when_the_source_sandbox_starts_then_each_has_its_own() -> None:
    args = parse_args(
        [
            "--tenant=acme",
            "--tenant=globex",
            "--tenant-credentials=acme:sk_acme_12345678:whsec_acme_1234",
            "--tenant-credentials=globex:sk_globex_1234567:whsec_globex_12",
        ]
    )

    config = config_from_args(args)

    assert [(t.id, t.api_key, t.webhook_secret) for t in config.tenants] == [
        ("acme", "sk_acme_12345678", "whsec_acme_1234"),
        ("globex", "sk_globex_1234567", "whsec_globex_12"),
    ]
