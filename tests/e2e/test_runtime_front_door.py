"""The started local runtime, driven over HTTP only: READY, the authorizer, API Gateway's own answers."""

from __future__ import annotations

import json
import time

import boto3
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from qbosync.source.signing import sign
from qbosync.store.app_secrets import derive_source_webhook_secret
from qbosync.store.source_credentials import SOURCE_CREDENTIALS_SK, SourceCredentialsStore
from qbosync.store.table import MainTable
from tests.e2e.conftest import RunningRuntime


def _forged_token(runtime: RunningRuntime, tenant_id: str) -> str:
    """A token with every right claim, signed by a key that is not the runtime's."""
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "iss": runtime.ready["jwt_issuer"],
        "aud": runtime.ready["jwt_audience"],
        "sub": "mallory",
        "iat": now,
        "exp": now + 600,
        "qbosync_tenants": tenant_id,
    }
    return jwt.encode(claims, other_key, algorithm="RS256")


def test_given_a_started_runtime_when_reading_ready_then_it_names_every_url_and_two_tenants(
    runtime: RunningRuntime,
) -> None:
    for key in ("front_door_url", "qbo_sandbox_url", "source_sandbox_url", "aws_endpoint_url"):
        assert runtime.ready[key].startswith("http://127.0.0.1:")
    assert runtime.tenant_ids() == ["acme-psa", "lawfirm-co"]
    assert all(tenant["admin_token"].count(".") == 2 for tenant in runtime.ready["tenants"])


def test_given_no_token_when_calling_an_admin_route_then_401_unauthorized(runtime: RunningRuntime) -> None:
    with runtime.http() as http:
        response = http.get("/tenants/acme-psa/settings")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthorized")


def test_given_a_forged_token_when_calling_an_admin_route_then_401_unauthorized(
    runtime: RunningRuntime,
) -> None:
    with runtime.http() as http:
        response = http.get(
            "/tenants/acme-psa/settings",
            headers={"Authorization": f"Bearer {_forged_token(runtime, 'acme-psa')}"},
        )
    assert response.status_code == 401


def test_given_an_unknown_path_when_calling_then_404_not_found(runtime: RunningRuntime) -> None:
    with runtime.http() as http:
        response = http.get("/no/such/route")
    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})


def test_given_a_started_runtime_when_asking_moto_then_the_template_resources_and_tenants_exist(
    runtime: RunningRuntime,
) -> None:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    dynamodb = session.client("dynamodb", endpoint_url=runtime.aws_endpoint_url)
    sqs = session.client("sqs", endpoint_url=runtime.aws_endpoint_url)
    secrets = session.client("secretsmanager", endpoint_url=runtime.aws_endpoint_url)

    assert set(runtime.ready["tables"].values()) <= set(dynamodb.list_tables()["TableNames"])
    push_queue = sqs.get_queue_attributes(
        QueueUrl=runtime.ready["queues"]["PushQueue"], AttributeNames=["All"]
    )
    assert push_queue["Attributes"]["FifoQueue"] == "true"
    assert '"maxReceiveCount":5' in push_queue["Attributes"]["RedrivePolicy"].replace(" ", "")
    tenant = dynamodb.get_item(
        TableName=runtime.ready["tables"]["MainTable"],
        Key={"pk": {"S": "TENANT#acme-psa"}, "sk": {"S": "PROFILE"}},
    )
    assert tenant["Item"]["tenant_id"]["S"] == "acme-psa"
    names = {secret["Name"] for secret in secrets.list_secrets()["SecretList"]}
    assert "qbosync/local/app/intuit" in names
    # Source credentials are sealed in the tenant's item, not in a secret of their own.
    assert not any(name.endswith("/source") for name in names)
    sealed = dynamodb.get_item(
        TableName=runtime.ready["tables"]["MainTable"],
        Key={"pk": {"S": "TENANT#lawfirm-co"}, "sk": {"S": SOURCE_CREDENTIALS_SK}},
    )
    assert "sealed" in sealed["Item"]


def test_given_two_tenants_when_one_signs_a_webhook_for_the_other_then_401_each_has_its_own_secrets(
    runtime: RunningRuntime,
) -> None:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    secrets = session.client("secretsmanager", endpoint_url=runtime.aws_endpoint_url)
    sealed_credentials = SourceCredentialsStore(
        MainTable(
            session.client("dynamodb", endpoint_url=runtime.aws_endpoint_url),
            runtime.ready["tables"]["MainTable"],
        ),
        kms=session.client("kms", endpoint_url=runtime.aws_endpoint_url),
    )
    first, second = runtime.tenant_ids()[:2]
    app_key = json.loads(
        secrets.get_secret_value(SecretId="qbosync/local/app/source-webhook-key")["SecretString"]
    )["key"]
    own = {
        tenant: {
            **(sealed_credentials.get(tenant) or {}),
            # Not stored per tenant: derived from the app key, as the operator CLI prints it.
            "webhook_secret": derive_source_webhook_secret(app_key, tenant, 1),
        }
        for tenant in (first, second)
    }
    body = json.dumps(
        {
            "event_id": "evt_cross_tenant",
            "tenant_id": second,
            "type": "invoice.created",
            "object": {"kind": "invoice", "id": "inv_x", "version": 1},
            "occurred_at": "2026-01-01T00:00:00Z",
        }
    ).encode()
    now = int(time.time())
    signed_by_first = {
        "Content-Type": "application/json",
        "X-Source-Timestamp": str(now),
        "X-Source-Signature": sign(own[first]["webhook_secret"], now, body),
    }

    with runtime.http() as http:
        response = http.post(f"/webhooks/source/{second}", content=body, headers=signed_by_first)

    assert own[first]["webhook_secret"] != own[second]["webhook_secret"]
    assert own[first]["api_key"] != own[second]["api_key"]
    assert (response.status_code, response.json()["error"]["code"]) == (401, "signature_invalid")
