"""The front door: what API Gateway's HTTP API does, in front of the in-process handlers.

Each request is matched to a route of template.yaml (the most specific wins, as in API Gateway),
checked by the route's JWT authorizer, turned into a payload format 2.0 event, given to the route's
function, and the handler's answer is turned back into HTTP with API Gateway's rules (a result without
``statusCode`` is a 200 JSON body). API Gateway's own answers are kept: 404 ``{"message":"Not Found"}``
for no route, 500 ``{"message":"Internal Server Error"}`` when the handler fails. A refused token is
the one exception: it gets the API's documented error shape (``{"error": {"code": "unauthorized", ...}}``),
which API Gateway's HTTP API cannot give (its JWT authorizer's 401 body is fixed; README "Errors").

It also serves ``/connected``, the admin return URL of the local runtime: the page Intuit's callback
redirects the connect window to, saying how connecting ended.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from local.jwt_issuer import (
    JwtIssuer,
    Unauthorized,
    bearer_token,
    claims_as_api_gateway_passes_them,
    scopes_of,
)
from local.template_model import LOCAL_ACCOUNT_ID, HttpRouteModel

LOGGER = logging.getLogger("local.runtime.front_door")
LOCAL_API_ID = "qbosynclocal"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "+json", "+xml")
_TEXT_TYPES_EXACT = ("application/x-www-form-urlencoded",)
_FRAMING_HEADERS = ("content-length", "transfer-encoding", "connection")  # set by the front door itself


@dataclass(frozen=True)
class RouteMatch:
    route: HttpRouteModel
    path_parameters: dict[str, str]


class RouteTable:
    """Template routes, matched the way API Gateway picks among several candidates."""

    def __init__(self, routes: list[HttpRouteModel]) -> None:
        self._routes = routes

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        candidates: list[tuple[tuple[int, int, int, int], RouteMatch]] = []
        segments = _segments(raw_path)
        for route in self._routes:
            if route.method not in ("ANY", method.upper()):
                continue
            if route.path == "$default":
                candidates.append(((-1, 0, 0, 0), RouteMatch(route, {})))
                continue
            parameters = _match_path(_segments(route.path), segments)
            if parameters is None:
                continue
            template_segments = _segments(route.path)
            greedy = bool(template_segments) and template_segments[-1].endswith("+}")
            literal_count = sum(1 for part in template_segments if not part.startswith("{"))
            rank = (
                0 if greedy else 1,
                literal_count,
                len(template_segments),
                0 if route.method == "ANY" else 1,
            )
            candidates.append((rank, RouteMatch(route, parameters)))
        if not candidates:
            return None
        return max(candidates, key=lambda candidate: candidate[0])[1]


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part != ""]


def _match_path(template: list[str], actual: list[str]) -> dict[str, str] | None:
    parameters: dict[str, str] = {}
    for index, part in enumerate(template):
        if part.startswith("{") and part.endswith("+}"):
            if index != len(template) - 1 or index >= len(actual):
                return None
            parameters[part[1:-2]] = unquote("/".join(actual[index:]))
            return parameters
        if index >= len(actual):
            return None
        if part.startswith("{") and part.endswith("}"):
            parameters[part[1:-1]] = unquote(actual[index])
        elif part != actual[index]:
            return None
    return parameters if len(template) == len(actual) else None


def _is_text(content_type: str) -> bool:
    lowered = content_type.lower().split(";")[0].strip()
    return any(marker in lowered for marker in _TEXT_TYPES) or lowered in _TEXT_TYPES_EXACT


@dataclass(frozen=True)
class IncomingRequest:
    """The parts of an HTTP request the v2 event is made of."""

    method: str
    raw_path: str
    raw_query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


def build_http_api_event(
    request: IncomingRequest,
    match: RouteMatch,
    *,
    claims: dict[str, Any] | None = None,
    domain_name: str = "127.0.0.1",
    now: float | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event for ``request`` on ``match``'s route."""
    moment = time.time() if now is None else now
    path = unquote(request.raw_path)  # API Gateway hands handlers the percent-decoded path
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lowered = name.lower()
        if lowered == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[lowered] = f"{headers[lowered]},{value}" if lowered in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query_string, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    route_key = "$default" if match.route.path == "$default" else match.route.route_key
    request_id = base64.b32encode(uuid.uuid4().bytes).decode()[:16].rstrip("=")
    request_context: dict[str, Any] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", maxsplit=1)[0],
        "http": {
            "method": request.method.upper(),
            "path": path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": datetime.fromtimestamp(moment, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(moment * 1000),
    }
    if claims is not None:
        request_context["authorizer"] = {
            "jwt": {"claims": claims_as_api_gateway_passes_them(claims), "scopes": scopes_of(claims)}
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": request.raw_query_string,
        "headers": headers,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    if request.body:
        text: str | None = None
        if _is_text(headers.get("content-type", "")):
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def _message(status: int, message: str) -> Response:
    return Response(
        json.dumps({"message": message}, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers={"apigw-requestid": uuid.uuid4().hex[:16]},
    )


def _unauthorized() -> Response:
    body = {
        "error": {
            "code": "unauthorized",
            "message": "no valid admin token: send Authorization: Bearer <JWT> from the identity provider",
            "details": [],
        }
    }
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=401,
        media_type="application/json",
        headers={"apigw-requestid": uuid.uuid4().hex[:16], "WWW-Authenticate": "Bearer"},
    )


CONNECTED_PATH = "/connected"
_OUTCOME_SENTENCES = {
    "connected": "QuickBooks Online is connected.",
    "denied": "QuickBooks Online was not connected: the sign-in was cancelled or access was denied.",
    "realm_in_use": (
        "QuickBooks Online was not connected: that company is already connected to another tenant."
    ),
    "other_realm_connected": (
        "QuickBooks Online was not connected: this tenant is connected to another company; "
        "disconnect it first."
    ),
}


def connected_page(query: str) -> Response:
    """The local admin return page: how connecting ended, in words, with the way back to the console."""
    params = dict(parse_qsl(query))
    outcome = params.get("qbo_connection", "")
    sentence = _OUTCOME_SENTENCES.get(
        outcome, f"QuickBooks Online was not connected ({outcome or 'no outcome given'}); try again."
    )
    reason = params.get("reason")
    detail = f"<p>{html.escape(reason)}</p>" if reason else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>qbosync: QuickBooks connection</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem">
<h1 style="font-size: 1.4rem" data-outcome="{html.escape(outcome)}">{html.escape(sentence)}</h1>{detail}
<p>You can close this window; the console shows the connection. <a href="/console">Open the console</a></p>
</body></html>"""
    return Response(page, status_code=200, media_type="text/html", headers={"Cache-Control": "no-store"})


def http_response_from_result(result: Any) -> Response:
    """API Gateway's payload 2.0 response mapping, including its inference for a bare result."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return Response(json.dumps(result), status_code=200, media_type="application/json")
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        return _message(500, "Internal Server Error")
    body = result.get("body")
    if body is None:
        content = b""
    elif result.get("isBase64Encoded"):
        content = base64.b64decode(str(body))
    else:
        content = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
    response = Response(content, status_code=status)
    del response.headers["content-length"]
    raw_headers: list[tuple[bytes, bytes]] = []
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in _FRAMING_HEADERS:
            raw_headers.append((name.lower().encode("latin-1"), str(value).encode("latin-1")))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if name.lower() not in _FRAMING_HEADERS:
            raw_headers.extend(
                (name.lower().encode("latin-1"), str(value).encode("latin-1")) for value in values
            )
    for cookie in result.get("cookies") or []:
        raw_headers.append((b"set-cookie", str(cookie).encode("latin-1")))
    raw_headers.append((b"content-length", str(len(content)).encode("latin-1")))
    response.raw_headers = raw_headers
    return response


InvokeFunction = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class AuthorizerCheck:
    """One JWT authorizer as the front door enforces it."""

    issuer: JwtIssuer
    audiences: tuple[str, ...]
    issuer_url: str


class FrontDoor:
    """Builds the Starlette app that stands in for the HTTP API."""

    def __init__(
        self,
        routes: RouteTable,
        invoke: InvokeFunction,
        authorizers: dict[str, AuthorizerCheck],
    ) -> None:
        self._routes = routes
        self._invoke = invoke
        self._authorizers = authorizers

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        return Starlette(
            routes=[
                Route("/", self._handle, methods=methods),
                Route("/{anything:path}", self._handle, methods=methods),
            ]
        )

    async def _handle(self, request: Request) -> Response:
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1") or "/"
        if raw_path == CONNECTED_PATH and request.method in ("GET", "HEAD"):
            return connected_page(request.scope.get("query_string", b"").decode("latin-1"))
        match = self._routes.match(request.method, raw_path)
        if match is None:
            return _message(404, "Not Found")
        claims: dict[str, Any] | None = None
        if match.route.authorizer is not None:
            check = self._authorizers[match.route.authorizer]
            try:
                token = bearer_token(request.headers.get("authorization"))
                claims = check.issuer.verify(token, check.audiences)
            except Unauthorized as refused:
                LOGGER.info("401 for %s %s: %s", request.method, raw_path, refused)
                return _unauthorized()
            if match.route.scopes and not set(match.route.scopes) & set(scopes_of(claims) or []):
                return _message(403, "Forbidden")
        incoming = IncomingRequest(
            method=request.method,
            raw_path=raw_path,
            raw_query_string=request.scope.get("query_string", b"").decode("latin-1"),
            headers=[
                (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.scope["headers"]
            ],
            body=await request.body(),
            source_ip=request.client.host if request.client else "127.0.0.1",
            protocol=f"HTTP/{request.scope.get('http_version', '1.1')}",
        )
        event = build_http_api_event(incoming, match, claims=claims, domain_name=request.url.hostname or "")
        try:
            result = await run_in_threadpool(self._invoke, match.route.function_id, event)
        except Exception:
            LOGGER.exception("%s failed on %s", match.route.function_id, match.route.route_key)
            return _message(500, "Internal Server Error")
        return http_response_from_result(result)
