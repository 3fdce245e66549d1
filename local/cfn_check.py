"""The SAM template as CloudFormation will see it: transformed offline, then linted.

``sam validate --lint`` lints only the SAM source, so what the transform produces (roles, permissions,
integrations, the dependency graph between them) is never checked: a cycle such as a function whose
environment names the API that integrates it only shows up at deploy time. This module runs SAM's own
translator (``samtranslator``, shipped with the SAM CLI, so run it with ``.sam-venv/bin/python``) with no
AWS call, writes the result, and runs cfn-lint on it.

    .sam-venv/bin/python -m local.cfn_check [--template template.yaml] [--output .aws-sam/transformed.json]

Exit status 0 only when cfn-lint finds neither an error nor a warning.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# SAM resolves the default Stage into LayerName and leaves a Fn::Sub without variables behind: its artifact.
_IGNORED_CHECKS = ("W1020",)
_ARTIFACT_BUCKET = "qbosync-artifacts"  # stands for the bucket `sam deploy` uploads to; never contacted


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs only for names it cannot build; none here."""

    def load(self) -> dict[str, str]:
        return {}


def packaged_template(path: Path) -> dict[str, Any]:
    """The template as ``sam package`` leaves it: code in S3 URIs, state machine definitions inline."""
    from samtranslator.yaml_helper import yaml_parse

    template: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://{_ARTIFACT_BUCKET}/{properties[key].strip('/')}.zip"
        definition_uri = properties.get("DefinitionUri")
        if isinstance(definition_uri, str):
            properties["Definition"] = json.loads((path.parent / definition_uri).read_text(encoding="utf-8"))
            del properties["DefinitionUri"]
    return template


def transformed_template(path: Path, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The plain CloudFormation template the ``AWS::Serverless`` transform makes of ``path``, offline."""
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator needs a region, not a call
    result: dict[str, Any] = transform(packaged_template(path), parameters or {}, _NoManagedPolicies())
    return result


def lint(path: Path) -> int:
    """cfn-lint's exit status for ``path`` (0 clean; bit 2 errors, bit 4 warnings, bit 8 informational)."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    command = [str(cfn_lint), "--ignore-checks", *_IGNORED_CHECKS, "--", str(path)]
    return subprocess.run(command, check=False).returncode  # noqa: S603 - our own venv's cfn-lint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--output", type=Path, default=Path(".aws-sam/transformed-template.json"))
    args = parser.parse_args(argv)
    transformed = transformed_template(args.template)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(transformed, indent=1, default=str), encoding="utf-8")
    status = lint(args.output)
    if status & 0b110:
        print(f"cfn-lint: the transformed template has errors or warnings ({args.output})", file=sys.stderr)
        return 1
    print(f"cfn-lint: the transformed template is clean ({len(transformed['Resources'])} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
