"""The front door turns HTTP into API Gateway HTTP API v2 events for the template's routes, as AWS does."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from local.jwt_issuer import LOCAL_ISSUER, JwtIssuer
from local.runtime.front_door import (
    AuthorizerCheck,
    FrontDoor,
    IncomingRequest,
    RouteTable,
    build_http_api_event,
)
from local.runtime.runtime import UvicornThread, bind_socket
from local.template_model import HttpRouteModel, load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
AUDIENCE = "qbosync-admin"


@pytest.fixture(scope="module")
def issuer() -> JwtIssuer:
    return JwtIssuer(LOCAL_ISSUER, AUDIENCE)


class Recorder:
    """Plays the functions behind the routes: records each event and answers with ``answer``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answer: Any = {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}

    def __call__(self, function_id: str, event: dict[str, Any]) -> Any:
        self.calls.append((function_id, event))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@contextmanager
def serving(front_door: FrontDoor) -> Iterator[httpx.Client]:
    """The front door on a free loopback port, as the runtime serves it."""
    listener = bind_socket("127.0.0.1", 0)
    server = UvicornThread(front_door.app(), listener)
    server.start()
    host, port = listener.getsockname()[:2]
    try:
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as http:
            yield http
    finally:
        server.stop()
        listener.close()


@pytest.fixture
def client(recorder: Recorder, issuer: JwtIssuer) -> Iterator[httpx.Client]:
    routes = RouteTable(load_template(TEMPLATE).routes)
    front_door = FrontDoor(routes, recorder, {"AdminJwt": AuthorizerCheck(issuer, (AUDIENCE,), LOCAL_ISSUER)})
    with serving(front_door) as http:
        yield http


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_given_an_admin_request_when_routed_then_the_event_is_a_complete_v2_event(
    client: httpx.Client, recorder: Recorder, issuer: JwtIssuer
) -> None:
    token = issuer.issue_admin_token("admin@acme", ["acme-psa"])
    response = client.put(
        "/tenants/acme-psa/mappings/tax-codes?x=1&x=2&y=",
        headers={**_bearer(token), "X-Trace": "a", "Cookie": "c1=v1; c2=v2"},
        json={"rows": []},
    )
    assert response.status_code == 200
    function_id, event = recorder.calls[0]
    assert function_id == "ApiFunction"
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /tenants/{tenant_id}/{proxy+}"
    assert event["rawPath"] == "/tenants/acme-psa/mappings/tax-codes"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["pathParameters"] == {"tenant_id": "acme-psa", "proxy": "mappings/tax-codes"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-trace"] == "a" and "cookie" not in event["headers"]
    assert json.loads(event["body"]) == {"rows": []} and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"]["method"] == "PUT" and context["http"]["path"] == event["rawPath"]
    assert context["stage"] == "$default" and context["routeKey"] == event["routeKey"]
    assert context["requestId"] and abs(context["timeEpoch"] / 1000 - time.time()) < 60
    claims = context["authorizer"]["jwt"]["claims"]
    assert claims["sub"] == "admin@acme" and claims["qbosync_tenants"] == "acme-psa"
    assert claims["aud"] == AUDIENCE and claims["exp"].isdigit()


def test_given_a_binary_body_when_routed_then_it_is_base64_encoded(
    client: httpx.Client, recorder: Recorder
) -> None:
    client.post("/webhooks/qbo", content=b"\x00\xff", headers={"Content-Type": "application/octet-stream"})
    event = recorder.calls[0][1]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff"
    assert "authorizer" not in event["requestContext"]


def test_given_exact_and_greedy_routes_when_matching_then_the_most_specific_wins() -> None:
    routes = RouteTable(
        [
            HttpRouteModel("Greedy", "a", "/tenants/{tenant_id}/{proxy+}", "ANY", None),
            HttpRouteModel("Param", "b", "/tenants/{tenant_id}/settings", "ANY", None),
            HttpRouteModel("Exact", "c", "/tenants/acme/settings", "GET", None),
        ]
    )
    assert routes.match("GET", "/tenants/acme/settings").route.function_id == "Exact"  # type: ignore[union-attr]
    assert routes.match("PUT", "/tenants/acme/settings").route.function_id == "Param"  # type: ignore[union-attr]
    assert routes.match("GET", "/tenants/b/x/y").route.function_id == "Greedy"  # type: ignore[union-attr]
    assert routes.match("GET", "/tenants/b") is None


def test_given_an_event_from_the_front_door_when_a_powertools_http_resolver_handles_it_then_it_routes(
    issuer: JwtIssuer,
) -> None:
    app = APIGatewayHttpResolver()

    @app.get("/tenants/<tenant_id>/settings")
    def read_settings(tenant_id: str) -> dict[str, Any]:
        event = app.current_event
        return {
            "tenant": tenant_id,
            "claims_tenants": event.request_context.authorizer.jwt_claim["qbosync_tenants"],
            "q": event.get_query_string_value("q"),
            "cookie": event.cookies[0],
        }

    route = RouteTable(load_template(TEMPLATE).routes).match("GET", "/tenants/acme-psa/settings")
    assert route is not None
    claims = issuer.verify(issuer.issue_admin_token("admin", ["acme-psa"]))
    request = IncomingRequest(
        "GET", "/tenants/acme-psa/settings", "q=v", [("Cookie", "s=1")], b"", "127.0.0.1"
    )
    result = app.resolve(build_http_api_event(request, route, claims=claims), {})  # type: ignore[arg-type]
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {
        "tenant": "acme-psa",
        "claims_tenants": "acme-psa",
        "q": "v",
        "cookie": "s=1",
    }


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer not-a-jwt"}, id="garbage"),
    ],
)
def test_given_no_valid_token_when_calling_an_admin_route_then_401_in_the_documented_error_shape(
    client: httpx.Client, recorder: Recorder, headers: dict[str, str]
) -> None:
    response = client.get("/tenants/acme-psa/settings", headers=headers)
    body = response.json()
    assert (response.status_code, sorted(body["error"])) == (401, ["code", "details", "message"])
    assert (body["error"]["code"], body["error"]["details"]) == ("unauthorized", [])
    assert response.headers["www-authenticate"] == "Bearer"
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        ("qbo_connection=connected&tenant_id=acme-psa&realm_id=9130", "QuickBooks Online is connected."),
        ("qbo_connection=denied&tenant_id=acme-psa", "the sign-in was cancelled or access was denied"),
        ("qbo_connection=upstream_error&reason=%3Cb%3Eboom%3C%2Fb%3E", "(upstream_error)"),
    ],
)
def test_given_intuits_callback_redirect_when_the_return_page_opens_then_it_says_how_connecting_ended(
    client: httpx.Client, recorder: Recorder, query: str, sentence: str
) -> None:
    response = client.get(f"/connected?{query}")

    assert (response.status_code, response.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert sentence in response.text
    assert "<b>boom" not in response.text
    assert 'href="/console"' in response.text
    assert recorder.calls == []


def test_given_a_token_signed_by_another_key_when_calling_then_401(
    client: httpx.Client, recorder: Recorder
) -> None:
    forged = JwtIssuer(LOCAL_ISSUER, AUDIENCE).issue_admin_token("mallory", ["acme-psa"])
    assert client.get("/tenants/acme-psa/settings", headers=_bearer(forged)).status_code == 401
    assert recorder.calls == []


def test_given_an_expired_token_when_calling_then_401(client: httpx.Client, issuer: JwtIssuer) -> None:
    expired = issuer.issue_admin_token("admin", ["acme-psa"], ttl=-120)
    assert client.get("/tenants/acme-psa/settings", headers=_bearer(expired)).status_code == 401


def test_given_a_token_for_another_audience_when_calling_then_401(client: httpx.Client) -> None:
    other = JwtIssuer(LOCAL_ISSUER, "someone-else")
    token = other.issue_admin_token("admin", ["acme-psa"])
    door = FrontDoor(
        RouteTable(load_template(TEMPLATE).routes),
        Recorder(),
        {"AdminJwt": AuthorizerCheck(other, (AUDIENCE,), LOCAL_ISSUER)},
    )
    with serving(door) as http:
        response = http.get("/tenants/acme-psa/settings", headers=_bearer(token))
    assert response.status_code == 401


def test_given_a_token_not_yet_valid_when_calling_then_401(client: httpx.Client, issuer: JwtIssuer) -> None:
    early = issuer.issue_admin_token("admin", ["acme-psa"], nbf=int(time.time()) + 600)
    assert client.get("/tenants/acme-psa/settings", headers=_bearer(early)).status_code == 401


def test_given_no_route_when_calling_then_404_like_api_gateway(client: httpx.Client) -> None:
    response = client.get("/nothing/here")
    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})


def test_given_a_handler_that_raises_when_calling_then_500_like_api_gateway(
    client: httpx.Client, recorder: Recorder
) -> None:
    recorder.answer = RuntimeError("boom")
    response = client.get("/openapi.json")
    assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})


def test_given_a_bare_dict_result_when_answering_then_200_json_like_payload_v2(
    client: httpx.Client, recorder: Recorder
) -> None:
    recorder.answer = {"openapi": "3.1.0"}
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"openapi": "3.1.0"}


def test_given_a_structured_result_when_answering_then_status_headers_cookies_and_base64_body_are_kept(
    client: httpx.Client, recorder: Recorder
) -> None:
    recorder.answer = {
        "statusCode": 302,
        "headers": {"Location": "https://appcenter.intuit.com/connect/oauth2?x=1"},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": base64.b64encode(b"moved").decode(),
        "isBase64Encoded": True,
    }
    response = client.get("/oauth/callback")
    assert response.status_code == 302
    assert response.headers["location"] == "https://appcenter.intuit.com/connect/oauth2?x=1"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]
    assert response.content == b"moved"


def test_given_a_percent_encoded_path_when_routed_then_the_event_carries_it_decoded_like_api_gateway(
    client: httpx.Client, recorder: Recorder, issuer: JwtIssuer
) -> None:
    token = issuer.issue_admin_token("admin@acme", ["acme-psa"])

    client.delete("/tenants/acme-psa/mappings/gl-codes/4000%20A%C3%A9", headers=_bearer(token))

    event = recorder.calls[0][1]
    assert (
        event["rawPath"]
        == event["requestContext"]["http"]["path"]
        == "/tenants/acme-psa/mappings/gl-codes/4000 Aé"
    )
    assert event["pathParameters"]["proxy"] == "mappings/gl-codes/4000 Aé"
