"""Cold start: how long importing each handler takes, as Lambda loads it, against ``import boto3`` alone.

    .venv/bin/python bench/cold_start.py [--samples 9] [--layer DIR] [--seed 7]

Each sample is a fresh interpreter (``python -I``, so nothing from this shell's PYTHONPATH leaks in) whose
``sys.path`` starts as Lambda's python runtime builds it: the function's code directory
(``LAMBDA_TASK_ROOT``), then the layer (``/opt/python``; here ``layers/common``, or the built layer given
with ``--layer``, e.g. ``.aws-sam/build/CommonLayer/python``), then the runtime's packages (here the
virtualenv's, where boto3 lives as it does in Lambda's runtime). The environment is Lambda's own
variables (function name, memory, region, ``AWS_EXECUTION_ENV``, ``_HANDLER``, X-Ray daemon address...)
plus the function's variables from ``template.yaml`` with placeholder values for the resources. The
sample times ``importlib.import_module(handler module)`` only: interpreter start-up is the same for
every handler and for the baseline, so it is left out of both.

Byte code: one unmeasured import per target first writes ``__pycache__``, as a layer shipped with
``.pyc`` files (the makefile build adds them when a python3.13, or pyenv's, is present) would have it.

Samples of all targets are interleaved in a shuffled order each round, so a busy neighbour on a shared
machine slows them alike; each figure is the median. Two figures per handler:

- ``import``: what Lambda's init phase does, ``import app``; the issue's target is at most 2x boto3's import.
- ``first_request``: the import plus what the handlers defer to their first invocation (the modules each
  imports inside its body, read from its source, and the X-Ray tracer, built on first use): what the first
  request waits for on top of the import, so deferring is visible rather than hidden.

Ratios are handler median / boto3 median. Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 2.0
BASELINE = "import boto3"
_SAMPLE = """
import importlib, json, sys, time
sys.path[0:0] = {path!r}
started = time.perf_counter()
importlib.import_module({module!r})
imported = time.perf_counter()
for name, names in {deferred!r}:
    __import__(name, fromlist=names)  # as the import statement does: ``from a import b`` loads a.b
observability = importlib.import_module("qbosync.observability")
if {deferred!r} and not observability.LazyTracer.sdk_disabled():
    observability.tracer.tracer()
print(json.dumps({{"import": imported - started, "first_request": time.perf_counter() - started}}))
"""


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=9, help="fresh interpreters per target")
    parser.add_argument(
        "--layer", type=Path, default=REPO / "layers" / "common", help="the layer's python directory"
    )
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def lambda_environment(function: Any, environment: dict[str, str], runtime: str) -> dict[str, str]:
    """What Lambda's python runtime sets before it imports the handler, plus the template's variables."""
    name = f"qbosync-bench-{function.logical_id}"
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "LAMBDA_TASK_ROOT": str(REPO / function.code_uri),
        "_HANDLER": function.handler,
        **environment,
    }


class Target(NamedTuple):
    path: list[str]
    module: str
    # what the handler imports inside its body, on first invocation: (module, names after ``import``)
    deferred: list[tuple[str, list[str]]]
    environment: dict[str, str]


def deferred_imports(source: Path) -> list[tuple[str, list[str]]]:
    """What a handler module imports inside its functions (not under ``if TYPE_CHECKING``).

    Each is a module and the names ``from module import ...`` takes: a name may be a submodule
    (``from qbosync.sync import wiring``), which only importing with those names loads.
    """
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imports: list[tuple[str, list[str]]] = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.module:
                imports.append((node.module, [alias.name for alias in node.names]))
            elif isinstance(node, ast.Import):
                imports.extend((alias.name, []) for alias in node.names)
    return list({(module, tuple(names)): (module, names) for module, names in imports}.values())


def template_targets(layer: str) -> tuple[str, dict[str, Target]]:
    """The deployed runtime and, per function, how Lambda would load it."""
    sys.path[0:0] = [str(REPO)]
    from local.template_model import IntrinsicResolver, LocalResourceMap, load_template

    template = load_template(REPO / "template.yaml")
    resources = LocalResourceMap(
        refs={logical_id: f"bench-{logical_id}" for logical_id in template.resources},
        attributes={
            (logical_id, attribute): f"arn:aws:bench:us-east-1:123456789012:{logical_id}"
            for logical_id in template.resources
            for attribute in ("Arn", "QueueName", "QueueUrl")
        },
        parameters={
            name: str(declared.get("Default", f"https://{name.lower()}.bench.invalid"))
            for name, declared in template.parameters.items()
        },
        api_base_url="https://api.bench.invalid",
    )
    resolver = IntrinsicResolver(template, resources)
    runtimes = {function.runtime for function in template.functions.values()}
    runtime = runtimes.pop() if len(runtimes) == 1 else "python3"
    targets: dict[str, Target] = {}
    for function in template.functions.values():
        environment = {key: resolver.resolve_str(value) for key, value in function.environment.items()}
        code = REPO / function.code_uri
        targets[function.logical_id] = Target(
            [str(code), layer],
            function.handler_module,
            deferred_imports(code / f"{function.handler_module}.py"),
            lambda_environment(function, environment, runtime),
        )
    return runtime, targets


def sample(target: Target) -> tuple[float, float]:
    """Seconds one fresh interpreter spends importing the handler, and with its first request's imports."""
    script = _SAMPLE.format(path=target.path, module=target.module, deferred=target.deferred)
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-I", "-c", script],
        env=target.environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"importing {target.module} failed:\n{completed.stderr}")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return float(figures["import"]), float(figures["first_request"])


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    layer = str(args.layer.resolve())
    runtime, functions = template_targets(layer)
    # The baseline imports boto3 in the first function's environment, with the layer on the path too.
    first = next(iter(functions.values()))
    targets = {"boto3": Target([layer], "boto3", [], first.environment), **functions}

    for target in targets.values():  # writes __pycache__, unmeasured
        sample(target)
    rng = random.Random(args.seed)
    imports: dict[str, list[float]] = {name: [] for name in targets}
    first_requests: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(args.samples):
        order = list(targets)
        rng.shuffle(order)
        for name in order:
            imported, first_request = sample(targets[name])
            imports[name].append(imported)
            first_requests[name].append(first_request)

    import_ms = {name: statistics.median(values) * 1000 for name, values in imports.items()}
    first_ms = {name: statistics.median(values) * 1000 for name, values in first_requests.items()}
    baseline = import_ms.pop("boto3")
    first_ms.pop("boto3")
    ratio = {name: value / baseline for name, value in import_ms.items()}
    first_ratio = {name: value / baseline for name, value in first_ms.items()}
    print(f"cold start: each handler as Lambda ({runtime}) loads it, vs `{BASELINE}`")
    print(f"python {sys.version.split()[0]} here, {args.samples} fresh interpreters per target, medians")
    print(f"layer on the path: {os.path.relpath(layer, REPO)}")
    print(f"{'target':<24}{'import ms':>10}{'ratio':>8}{'first request ms':>18}{'ratio':>8}")
    print(f"{'import boto3':<24}{baseline:>10.1f}{1.0:>8.2f}")
    for name in sorted(import_ms, key=first_ratio.__getitem__, reverse=True):
        flag = "" if ratio[name] <= TARGET_RATIO else f"  import > {TARGET_RATIO}x"
        print(
            f"{name:<24}{import_ms[name]:>10.1f}{ratio[name]:>8.2f}"
            f"{first_ms[name]:>18.1f}{first_ratio[name]:>8.2f}{flag}"
        )
    worst = max(ratio.values())
    print(f"worst import ratio {worst:.2f} (target <= {TARGET_RATIO}); worst first request")
    print(f"ratio {max(first_ratio.values()):.2f} (import plus what the first invocation imports)")
    result = {
        "runtime": runtime,
        "python": sys.version.split()[0],
        "samples": args.samples,
        "boto3_import_ms": round(baseline, 1),
        "handler_import_ms": {name: round(value, 1) for name, value in sorted(import_ms.items())},
        "ratio": {name: round(value, 2) for name, value in sorted(ratio.items())},
        "first_request_ms": {name: round(value, 1) for name, value in sorted(first_ms.items())},
        "first_request_ratio": {name: round(value, 2) for name, value in sorted(first_ratio.items())},
        "max_ratio": round(worst, 2),
        "max_first_request_ratio": round(max(first_ratio.values()), 2),
        "target_ratio": TARGET_RATIO,
        "all_within_target": worst <= TARGET_RATIO,
    }
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
