"""Property-based check of the admin API against its own OpenAPI description, fully in-process.

The spec is read from ``GET /openapi.json`` through the Lambda handler; every generated case is
turned into an API Gateway v2 event for a token granting the test tenant, and schemathesis checks
the reply with every check it has (but the two named in ``EXCLUDED_CHECKS``, and why): no 5xx, and
status, content type, headers and body as the spec says. Once call by call, once statefully: chains
of calls over every tenant operation, through links added for the run (``_with_workflow_links``),
against one admin API that keeps its state between steps.
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
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from functions.api.app import lambda_handler
from qbosync.api.dependencies import ApiDependencies
from qbosync.store.tenants import Tenant, TenantRepository
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
# A request without a required If-Match is answered 428 (RFC 6585), as the spec documents; the other
# statuses are schemathesis' defaults for a missing header.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"missing_required_header": {"expected-statuses": [400, 401, 403, 406, 415, 422, 428]}}}
)
schema = schemathesis.openapi.from_dict(_served_spec(), config=CONFIG)

SETTINGS = "/tenants/{tenant_id}/settings"
MAPPINGS = "/tenants/{tenant_id}/mappings/{kind}"
TENANT = {"path.tenant_id": "$request.path.tenant_id"}


def _link(operation: dict[str, Any], status: str, name: str, target: str, parameters: dict[str, str]) -> None:
    links = operation["responses"][status].setdefault("links", {})
    links[name] = {"operationId": target, "parameters": parameters}


def _with_workflow_links(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with OpenAPI links for the stateful run: every tenant operation follows a settings read
    (so all of them take part), and the real chains follow what the API returns: an ETag into If-Match,
    a stored row into its delete, a run id into its reads, a listed event into its retry."""
    linked = json.loads(json.dumps(spec))
    operations = {
        operation["operationId"]: (path, method, operation)
        for path, item in linked["paths"].items()
        for method, operation in item.items()
    }
    by_route = {(method, path): operation for path, method, operation in operations.values()}
    read_settings = by_route[("get", SETTINGS)]
    for operation_id, (path, _method, _operation) in operations.items():
        if "{tenant_id}" in path and operation_id != read_settings["operationId"]:
            _link(read_settings, "200", f"then_{operation_id}", operation_id, TENANT)
    _link(
        read_settings,
        "200",
        "change_what_was_read",
        by_route[("put", SETTINGS)]["operationId"],
        {**TENANT, "header.If-Match": "$response.header.ETag"},
    )
    same_kind = {**TENANT, "path.kind": "$request.path.kind"}
    _link(
        by_route[("get", MAPPINGS)],
        "200",
        "change_the_rows_read",
        by_route[("put", MAPPINGS)]["operationId"],
        {**same_kind, "header.If-Match": "$response.header.ETag"},
    )
    _link(
        by_route[("put", MAPPINGS)],
        "200",
        "delete_a_stored_row",
        by_route[("delete", MAPPINGS + "/{source_key}")]["operationId"],
        {
            **same_kind,
            "path.source_key": "$response.body#/rows/0/source_key",
            "header.If-Match": "$response.header.ETag",
        },
    )
    start = by_route[("post", "/tenants/{tenant_id}/sync/initial")]
    for target in (
        "/tenants/{tenant_id}/sync/runs/{run_id}",
        "/tenants/{tenant_id}/sync/runs/{run_id}/resume",
    ):
        method = "post" if target.endswith("resume") else "get"
        _link(
            start,
            "202",
            f"follow_{method}",
            by_route[(method, target)]["operationId"],
            {**TENANT, "path.run_id": "$response.body#/run_id"},
        )
    _link(
        by_route[("get", "/tenants/{tenant_id}/sync/events")],
        "200",
        "retry_a_listed_event",
        by_route[("post", "/tenants/{tenant_id}/sync/events/{event_id}/retry")]["operationId"],
        {**TENANT, "path.event_id": "$response.body#/items/0/event_id"},
    )
    return linked


workflow_schema = schemathesis.openapi.from_dict(_with_workflow_links(_served_spec()), config=CONFIG)


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
    case.validate_response(_call_in_process(case, admin_api), excluded_checks=EXCLUDED_CHECKS)


def _call_in_process(case: Any, api: AdminApi, tenant_id: str = TENANT_A) -> Response:
    """One generated case as the API Gateway event a granted admin's request becomes, and its reply."""
    path_parameters = dict(case.path_parameters or {})
    if "tenant_id" in path_parameters:
        path_parameters["tenant_id"] = tenant_id  # a token for the tenant, so cases reach past the 403
    case.path_parameters = path_parameters
    request = case.as_transport_kwargs(base_url="http://api.example.test")
    headers = {key: str(value) for key, value in (request.get("headers") or {}).items()}
    event = http_event(
        case.method.upper(),
        case.formatted_path,
        raw_body=_body_text(request),
        headers=headers,
        query={key: str(value) for key, value in (request.get("params") or {}).items()},
        tenants=tenant_id if _has_bearer(headers) else None,
    )
    reply = lambda_handler(event, LambdaContextStub(), deps=api.deps)
    return _reply_as_response(case, event, reply)


class AdminApiWorkflows(workflow_schema.as_state_machine()):  # type: ignore[misc]
    """Chains of calls (links inferred by schemathesis from the spec: a PUT's result read back, a row
    deleted after it was put, ...) against one moto-backed admin API that keeps its state between steps."""

    api: AdminApi
    scenarios = 0

    def setup(self) -> None:
        """Each scenario gets a tenant of its own, connected like tenant A: what one chain stored (settings
        versions, mappings, a pause, a disconnect) never changes what the next chain's links may follow,
        which Hypothesis needs to replay a scenario the same way."""
        type(self).scenarios += 1
        self.tenant_id = f"workflow-{type(self).scenarios:04d}"
        TenantRepository().register(Tenant(tenant_id=self.tenant_id, name="Workflow tenant"))
        self.api.connections.by_tenant[self.tenant_id] = self.api.connections.by_tenant[TENANT_A]

    def call(self, case: Any, **kwargs: Any) -> Response:
        return _call_in_process(case, self.api, self.tenant_id)

    def validate_response(
        self, response: Response, case: Any, additional_checks: Any = None, **kwargs: Any
    ) -> None:
        case.validate_response(response, additional_checks=additional_checks, excluded_checks=EXCLUDED_CHECKS)


def test_given_chains_of_admin_api_calls_when_run_statefully_then_every_reply_conforms_and_none_is_a_5xx(
    admin_api: AdminApi,
) -> None:
    AdminApiWorkflows.api = admin_api
    AdminApiWorkflows.scenarios = 0
    AdminApiWorkflows.run(
        settings=settings(
            max_examples=40,
            stateful_step_count=8,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
