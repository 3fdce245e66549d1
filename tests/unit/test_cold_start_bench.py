"""``bench/cold_start.py`` counts what a first request really loads, on the packages Lambda would have.

The probe and the timed sample run in fresh interpreters (subprocesses, no sockets); the local runtime the
bench starts to drive real invocations is not needed for these.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cold_start_bench", REPO / "bench" / "cold_start.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple classes look their module up by name
    spec.loader.exec_module(module)
    return module


def _handler_dir(tmp_path: Path) -> Path:
    """A handler that imports a module of its own only inside its body, as the wiring's factories do."""
    (tmp_path / "deferred_service.py").write_text("ANSWER = 202\n", encoding="utf-8")
    (tmp_path / "app.py").write_text(
        "def lambda_handler(event, context):\n"
        "    from deferred_service import ANSWER\n"
        "    return {'statusCode': ANSWER, 'body': ''}\n",
        encoding="utf-8",
    )
    return tmp_path


def test_given_a_handler_that_imports_in_its_body_when_probed_then_the_first_request_counts_that_module(
    tmp_path: Path,
) -> None:
    bench = _bench()
    target = bench.Target([str(_handler_dir(tmp_path))], "app", "lambda_handler", {}, 128)

    found = bench.probe(target, {}, "sample.json", {"rawPath": "/"})

    assert found.outcome == "HTTP 202"
    assert found.cpu > 0
    assert "app" in found.import_modules
    assert "deferred_service" not in found.import_modules
    assert "deferred_service" in found.first_request_modules


def test_given_recorded_modules_when_sampled_then_they_are_imported_after_the_handler_and_unknown_ones_named(
    tmp_path: Path,
) -> None:
    bench = _bench()
    target = bench.Target([str(_handler_dir(tmp_path))], "app", "lambda_handler", {}, 128)

    found = bench.sample(target, ["deferred_service", "no_such_module_here"])

    assert 0 < found.imported <= found.first_request
    assert found.first_request_cpu > 0
    assert found.failed == ["no_such_module_here"]


def test_given_the_layer_requirements_when_linking_runtime_packages_then_only_their_closure_and_boto3(
    tmp_path: Path,
) -> None:
    bench = _bench()

    packages = bench.runtime_packages(tmp_path, REPO / "layers" / "common" / "requirements.txt")

    names = {path.name for path in packages.iterdir()}
    # The layer's requirements, their dependencies (httpx's anyio, the tracer extra's X-Ray SDK) and boto3's.
    assert {"pydantic", "pydantic_core", "httpx", "anyio", "aws_lambda_powertools", "aws_xray_sdk"} <= names
    assert {"boto3", "botocore", "s3transfer", "urllib3", "jmespath"} <= names
    # Installed here for tests and tools, never in Lambda: httpx would load click and rich if present.
    assert not {"pytest", "moto", "click", "rich", "trio"} & names


def test_given_probes_of_several_samples_when_one_is_chosen_then_it_is_the_one_that_loaded_the_most() -> None:
    bench = _bench()
    light = bench.Probe("a.json", ["app"], ["app", "json"], "HTTP 200", 0.1)
    heavy = bench.Probe("b.json", ["app"], ["app", "json", "httpx"], "HTTP 200", 0.05)

    assert bench.heaviest([light, heavy]).event == "b.json"


def test_given_the_sample_events_when_read_then_every_function_has_one_and_their_tenants_are_found() -> None:
    bench = _bench()

    events = bench.sample_events()

    assert set(events) == set(bench.EVENTS) | {"ScheduledWorkerFunction"}
    assert all(events.values())
    assert {"acme", "acme-law"} <= set(bench._tenants_of(events))
    admin_samples = [name for name, _event in events["ApiFunction"]]
    assert admin_samples[-1] in {"api_connection_delete.json", "api_delete_mapping.json"}  # deletions last


def test_given_module_names_when_grouped_then_each_falls_in_its_distribution_family() -> None:
    bench = _bench()

    assert bench.family_of("botocore.session") == "boto3"
    assert bench.family_of("pydantic_core._pydantic_core") == "pydantic"
    assert bench.family_of("aws_lambda_powertools.event_handler") == "powertools"
    assert bench.family_of("httpcore._sync") == "httpx"
    assert bench.family_of("qbosync.sync.wiring") == "qbosync"
    assert bench.family_of("email.message") == "stdlib"
