"""The console routes: the app and its assets are served from the layer, with a strict CSP, and nothing
but the console's own files can be read through them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qbosync.api.dependencies import ApiDependencies
from qbosync.api.resolver import build_resolver
from qbosync.api.routes.console import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_FILES = ROOT / "layers" / "common" / "qbosync" / "console"


class LambdaContextStub:
    function_name = "qbosync-api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:qbosync-api"
    aws_request_id = "req-console"


def get(path: str) -> tuple[int, dict[str, str], str]:
    event = json.loads((ROOT / "events" / "api_connect.json").read_text())
    event["requestContext"].pop("authorizer", None)  # public routes: no token at all
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = "GET /console/{asset}"
    event.pop("pathParameters", None)
    reply: dict[str, Any] = build_resolver(ApiDependencies()).resolve(event, LambdaContextStub())
    headers = {key.lower(): value for key, value in (reply.get("headers") or {}).items()}
    return reply["statusCode"], headers, reply.get("body") or ""


def test_given_no_token_when_the_console_is_requested_then_its_page_is_served_with_a_strict_policy() -> None:
    status, headers, body = get("/console")

    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="console/app.js">' in body


@pytest.mark.parametrize(
    ("asset", "media_type"),
    [("app.js", "text/javascript"), ("embed.js", "text/javascript"), ("console.css", "text/css")],
)
def test_given_an_asset_of_the_console_when_requested_then_it_is_served_as_its_type(
    asset: str, media_type: str
) -> None:
    status, headers, body = get(f"/console/{asset}")

    assert (status, headers["content-type"].split(";")[0]) == (200, media_type)
    assert body == (CONSOLE_FILES / asset).read_text(encoding="utf-8")


@pytest.mark.parametrize("asset", ["__init__.py", "missing.js", ".hidden.js", "..%2Fsettings.py", "app"])
def test_given_anything_but_a_console_file_when_requested_then_404_in_the_error_shape(asset: str) -> None:
    status, _headers, body = get(f"/console/{asset}")

    assert status == 404
    assert json.loads(body)["error"]["code"] in {"console_asset_not_found", "route_not_found"}


def test_given_the_openapi_document_when_read_then_the_console_routes_are_not_part_of_the_admin_api() -> None:
    schema = build_resolver(ApiDependencies()).get_openapi_schema()

    assert not [path for path in schema.paths or {} if path.startswith("/console")]
