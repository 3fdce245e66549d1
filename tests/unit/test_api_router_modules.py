"""The admin API imports only the routers a request's path can reach: their declared paths are the truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from qbosync.api.dependencies import ApiDependencies
from qbosync.api.resolver import ROUTERS, build_resolver, routers_for
from tests.support.lambda_context import LambdaContextStub

REPO = Path(__file__).resolve().parents[2]
ALL_ROUTERS = tuple(router.module for router in ROUTERS)


def test_given_every_router_when_built_then_each_route_is_declared_by_its_module_and_nothing_more() -> None:
    app = build_resolver(ApiDependencies())

    served: dict[str, set[str]] = {router.module: set() for router in ROUTERS}
    for route in [*app._static_routes, *app._dynamic_routes]:
        module = route.func.__module__
        if module in served:  # the OpenAPI document and the docs are the resolver's own
            served[module].add(route.path)

    assert {router.module: set(router.paths) for router in ROUTERS} == served


def test_given_a_tenant_route_when_its_routers_are_chosen_then_only_the_module_that_serves_it() -> None:
    assert routers_for("/tenants/acme/settings") == ("qbosync.api.routes.configuration",)
    assert routers_for("/tenants/acme/sync/runs/r-1") == ("qbosync.api.routes.sync_runs",)
    assert routers_for("/tenants/acme/sync/runs/r-1/undo") == ("qbosync.api.routes.onboarding",)
    assert routers_for("/oauth/callback") == ("qbosync.api.routes.connection",)


def test_given_a_path_no_router_declares_when_chosen_then_every_router_answers_it() -> None:
    # The OpenAPI document, the docs and a 404 (or 405) need every route.
    for path in ("/openapi.json", "/docs", "/tenants/acme/no-such-thing", "/tenants/acme/settings/extra"):
        assert routers_for(path) == ALL_ROUTERS


def test_given_a_fresh_interpreter_when_a_settings_request_builds_its_resolver_then_others_stay_unloaded(
    tmp_path: Path,
) -> None:
    script = (
        "import json, sys\n"
        "from qbosync.api.resolver import build_resolver, routers_for\n"
        "build_resolver(routers=routers_for('/tenants/acme/settings'))\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith(('qbosync.', 'aws_')))))\n"
    )
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path[0:0] = {[str(REPO / 'layers' / 'common')]!r}\n{script}",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"AWS_DEFAULT_REGION": "us-east-1"},
        cwd=tmp_path,
    )
    loaded = set(json.loads(completed.stdout.strip().splitlines()[-1]))

    assert "qbosync.api.routes.configuration" in loaded
    other_routes = {"qbosync.api.routes.onboarding", "qbosync.api.routes.readiness", "qbosync.sync.bulk.plan"}
    assert not other_routes & loaded
    # Nor Powertools' OpenAPI models: only the document needs them, and its path gets every router.
    assert "aws_lambda_powertools.event_handler.openapi.models" not in loaded


def test_given_a_resolver_of_some_routers_when_built_then_it_serves_no_openapi_document() -> None:
    full = build_resolver(ApiDependencies())
    settings_only = build_resolver(ApiDependencies(), routers_for("/tenants/acme/settings"))

    def paths(app: object) -> set[str]:
        return {route.path for route in [*app._static_routes, *app._dynamic_routes]}  # type: ignore[attr-defined]

    assert {"/openapi.json", "/docs"} <= paths(full)
    assert not {"/openapi.json", "/docs"} & paths(settings_only)


def test_given_a_resolver_of_some_routers_when_a_method_its_path_lacks_comes_then_it_answers_as_all_do() -> (
    None
):
    event = json.loads((REPO / "events" / "api_get_settings.json").read_text(encoding="utf-8"))
    event["requestContext"]["http"]["method"] = "DELETE"
    some = build_resolver(ApiDependencies(), routers_for(event["rawPath"]))
    every = build_resolver(ApiDependencies())

    context: Any = LambdaContextStub()
    reply = some.resolve(event, context)

    assert reply["statusCode"] == 405
    assert json.loads(reply["body"])["error"]["code"] == "method_not_allowed"
    assert {"GET", "PUT"} <= set(reply["headers"]["Allow"].split(", "))
    assert reply == every.resolve(event, context)
