"""Property-based check of the admin API against its own OpenAPI description, fully in-process.

The spec is read from ``GET /openapi.json`` through the Lambda handler; every generated case is
turned into an API Gateway v2 event for a token granting the test tenant, and schemathesis checks
the reply: no 5xx, and status, content type, headers and body as the spec says.
"""

# ruff: noqa: F811  (the admin_api fixture is imported from the support module)

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from moto import mock_aws
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from functions.api.app import lambda_handler
from qbosync.api.dependencies import ApiDependencies
from tests.support.admin_api import (
    TENANT_A,
    AdminApi,
    admin_api,  # noqa: F401
    http_event,
)
from tests.support.lambda_context import LambdaContextStub


def _served_spec() -> dict[str, Any]:
    """The spec exactly as ``/openapi.json`` serves it (collaborators are never called for it)."""
    with mock_aws():
        deps = ApiDependencies(
            tenants=_unused, connections=_unused, qbo_reader_for=_unused, source_reader_for=_unused
        )
        reply = lambda_handler(
            http_event("GET", "/openapi.json", tenants=None), LambdaContextStub(), deps=deps
        )
    assert reply["statusCode"] == 200
    spec: dict[str, Any] = json.loads(reply["body"])
    return spec


class _Unused:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError("the OpenAPI route must not touch collaborators")

    def __call__(self, *args: Any) -> Any:
        raise AssertionError("the OpenAPI route must not touch collaborators")


_unused: Any = _Unused()
schema = schemathesis.openapi.from_dict(_served_spec())


def _reply_as_response(case: Any, event: dict[str, Any], reply: dict[str, Any]) -> Response:
    request = requests.Request(
        method=case.method,
        url=f"http://api.example.test{event['rawPath']}",
        headers=event["headers"],
        params=case.query or {},
        data=event.get("body"),
    ).prepare()
    body = (reply.get("body") or "").encode()
    return Response(
        status_code=reply["statusCode"],
        headers={key.lower(): [value] for key, value in (reply.get("headers") or {}).items()},
        content=body,
        request=request,
        elapsed=0.0,
        verify=True,
    )


# ignored_auth replays the request over the network, which this in-process run has not got (the
# missing-credentials case is still checked, by missing_required_header, on the reply itself).
# positive_data_acceptance expects every schema-valid request to succeed, but schema-valid rows naming
# QBO ids that do not exist must be refused (422), which is the point of validating mappings.
EXCLUDED_CHECKS = [ignored_auth, positive_data_acceptance]


def _has_bearer(headers: dict[str, str]) -> bool:
    """API Gateway's JWT authorizer adds claims only to requests carrying a bearer token."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    return value.startswith("Bearer ") and len(value) > len("Bearer ")


def _body_text(request: dict[str, Any]) -> str | None:
    if "json" in request:
        return json.dumps(request["json"])
    data = request.get("data")
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data if isinstance(data, str) else None


@schema.parametrize()
@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
@pytest.mark.filterwarnings("ignore")
def test_given_any_request_the_spec_allows_when_sent_then_the_reply_conforms_and_is_not_a_5xx(
    case: Any, admin_api: AdminApi
) -> None:
    path_parameters = dict(case.path_parameters or {})
    path_parameters["tenant_id"] = TENANT_A  # a token for the tenant, so cases reach past the 403
    case.path_parameters = path_parameters
    request = case.as_transport_kwargs(base_url="http://api.example.test")
    headers = {key: str(value) for key, value in (request.get("headers") or {}).items()}
    event = http_event(
        case.method.upper(),
        case.formatted_path,
        raw_body=_body_text(request),
        headers=headers,
        query={key: str(value) for key, value in (request.get("params") or {}).items()},
        tenants=TENANT_A if _has_bearer(headers) else None,
    )

    reply = lambda_handler(event, LambdaContextStub(), deps=admin_api.deps)

    case.validate_response(_reply_as_response(case, event, reply), excluded_checks=EXCLUDED_CHECKS)
