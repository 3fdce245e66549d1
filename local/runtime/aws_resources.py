"""moto in this process, and in it every resource template.yaml declares.

moto runs as a ``ThreadedMotoServer`` in this process (not a child), so the Lambda invoker's patch of
moto's ``_invoke_lambda`` applies to the Lambda calls Step Functions makes. Resources are created with
boto3 from the template model (not by deploying the template into moto, whose CloudFormation lacks
what this project needs), so the template and the local runtime cannot drift apart.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
from botocore.config import Config
from moto.server import ThreadedMotoServer

from local.lambda_invoker import function_arn
from local.template_model import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    FunctionModel,
    IntrinsicResolver,
    LocalResourceMap,
    QueueModel,
    TemplateError,
    TemplateModel,
    substitute_definition,
)

LOGGER = logging.getLogger("local.runtime.aws")
LOCAL_LAMBDA_ROLE = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/qbosync-local-lambda"
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=30)


class MotoService:
    """moto's server on a free loopback port, with Step Functions execution switched on."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""
        self.port = 0

    def start(self) -> str:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per moto request is noise
        self._server.start()
        host, self.port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{self.port}"
        # moto's backends are process-wide: start from an empty account, whatever ran before.
        httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
        response = httpx.post(
            f"{self.endpoint_url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        )
        response.raise_for_status()
        return self.endpoint_url

    def stop(self) -> None:
        if self.port:
            self._server.stop()
            self.port = 0

    def client(self, service: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=LOCAL_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
            config=_CLIENT_CONFIG,
        )


def local_function_name(stage: str, logical_id: str) -> str:
    return f"qbosync-{stage}-{logical_id}"[:64]


@dataclass
class CreatedResources:
    """What was created, by logical id."""

    tables: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    function_names: dict[str, str] = field(default_factory=dict)
    topic_arns: dict[str, str] = field(default_factory=dict)


def plan_resource_map(template: TemplateModel, resources: LocalResourceMap, stage: str) -> None:
    """Fill in the names and ARNs that do not depend on moto's answers (functions, API, layers)."""
    for logical_id in template.functions:
        name = local_function_name(stage, logical_id)
        resources.refs[logical_id] = name
        resources.attributes[(logical_id, "Arn")] = function_arn(name)
    if template.http_api_id:
        from local.runtime.front_door import LOCAL_API_ID

        resources.refs[template.http_api_id] = LOCAL_API_ID
    for logical_id, resource in template.resources.items():
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            resources.refs[logical_id] = (
                f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:layer:{logical_id}:1"
            )


class ResourceProvisioner:
    """Creates the template's tables, queues, topics, Lambda functions and state machines in moto."""

    def __init__(
        self,
        moto: MotoService,
        template: TemplateModel,
        resolver: IntrinsicResolver,
        resources: LocalResourceMap,
    ) -> None:
        self._moto = moto
        self._template = template
        self._resolver = resolver
        self._resources = resources
        self._stage = resolver.parameter("Stage")

    def create_all(self) -> CreatedResources:
        created = CreatedResources()
        self._create_topics(created)
        self._create_kms_keys()
        self._create_tables(created)
        self._create_queues(created)
        self._create_functions(created)
        self._create_state_machines(created)
        return created

    def _name(self, logical_id: str) -> str:
        return f"qbosync-{self._stage}-{logical_id}"

    def _create_topics(self, created: CreatedResources) -> None:
        sns = self._moto.client("sns")
        for logical_id, resource in self._template.resources.items():
            if resource.get("Type") != "AWS::SNS::Topic":
                continue
            props = resource.get("Properties", {}) or {}
            name = self._resolver.resolve_str(props.get("TopicName", self._name(logical_id)))
            arn = sns.create_topic(Name=name)["TopicArn"]
            created.topic_arns[logical_id] = arn
            self._resources.refs[logical_id] = arn
            self._resources.attributes[(logical_id, "TopicName")] = name

    def _create_kms_keys(self) -> None:
        """Symmetric keys (``AWS::KMS::Key``), then their aliases (``AWS::KMS::Alias``)."""
        kms = self._moto.client("kms")
        for logical_id, resource in self._template.resources.items():
            if resource.get("Type") != "AWS::KMS::Key":
                continue
            metadata = kms.create_key(Description=f"qbosync {logical_id} (local)")["KeyMetadata"]
            self._resources.refs[logical_id] = metadata["KeyId"]
            self._resources.attributes[(logical_id, "Arn")] = metadata["Arn"]
        for logical_id, resource in self._template.resources.items():
            if resource.get("Type") != "AWS::KMS::Alias":
                continue
            props = self._resolver.resolve(resource.get("Properties", {}) or {})
            kms.create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
            self._resources.refs[logical_id] = props["AliasName"]

    def _create_tables(self, created: CreatedResources) -> None:
        dynamodb = self._moto.client("dynamodb")
        for logical_id, table in self._template.tables.items():
            props = self._resolver.resolve(table.properties)
            name = props.get("TableName") or self._name(logical_id)
            request: dict[str, Any] = {
                "TableName": name,
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PROVISIONED"),
            }
            if request["BillingMode"] == "PROVISIONED":
                request["ProvisionedThroughput"] = props.get(
                    "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
                )
            for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
                if key in props:
                    request[key] = props[key]
            description = dynamodb.create_table(**request)["TableDescription"]
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
            created.tables[logical_id] = name
            self._resources.refs[logical_id] = name
            self._resources.attributes[(logical_id, "Arn")] = description["TableArn"]
            if "LatestStreamArn" in description:
                self._resources.attributes[(logical_id, "StreamArn")] = description["LatestStreamArn"]

    def _queue_order(self) -> list[QueueModel]:
        """Dead-letter queues before the queues that redrive to them."""
        ordered: list[QueueModel] = []
        remaining = dict(self._template.queues)
        while remaining:
            ready = [
                queue
                for queue in remaining.values()
                if queue.dead_letter_target is None or queue.dead_letter_target not in remaining
            ]
            if not ready:
                raise TemplateError(f"queues {sorted(remaining)} redrive to each other in a cycle")
            for queue in ready:
                if (
                    queue.dead_letter_target is not None
                    and queue.dead_letter_target not in self._template.queues
                ):
                    raise TemplateError(
                        f"{queue.logical_id} redrives to unknown queue {queue.dead_letter_target}"
                    )
                ordered.append(queue)
                del remaining[queue.logical_id]
        return ordered

    def _create_queues(self, created: CreatedResources) -> None:
        sqs = self._moto.client("sqs")
        for queue in self._queue_order():
            props = self._resolver.resolve(queue.properties)
            name = props.get("QueueName") or self._name(queue.logical_id)
            if queue.fifo and not name.endswith(".fifo"):
                name += ".fifo"
            attributes: dict[str, str] = {"VisibilityTimeout": str(queue.visibility_timeout)}
            for key in (
                "MessageRetentionPeriod",
                "DelaySeconds",
                "MaximumMessageSize",
                "ReceiveMessageWaitTimeSeconds",
                "KmsMasterKeyId",
            ):
                if key in props:
                    attributes[key] = str(props[key])
            if queue.fifo:
                attributes["FifoQueue"] = "true"
                for key in ("ContentBasedDeduplication",):
                    if key in props:
                        attributes[key] = "true" if props[key] in (True, "true") else "false"
                for key in ("DeduplicationScope", "FifoThroughputLimit"):
                    if key in props:
                        attributes[key] = str(props[key])
            if queue.dead_letter_target is not None:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": created.queue_arns[queue.dead_letter_target],
                        "maxReceiveCount": queue.max_receive_count,
                    }
                )
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            created.queue_urls[queue.logical_id] = url
            created.queue_arns[queue.logical_id] = arn
            self._resources.refs[queue.logical_id] = url
            self._resources.attributes[(queue.logical_id, "Arn")] = arn
            self._resources.attributes[(queue.logical_id, "QueueName")] = name
            self._resources.attributes[(queue.logical_id, "QueueUrl")] = url

    def _create_functions(self, created: CreatedResources) -> None:
        """A moto Lambda function per template function, so Step Functions finds their ARNs."""
        if not self._template.functions:
            return
        self._moto.client("iam").create_role(
            RoleName=LOCAL_LAMBDA_ROLE.rsplit("/", 1)[1],
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
        lambda_client = self._moto.client("lambda")
        for logical_id, function in self._template.functions.items():
            name = local_function_name(self._stage, logical_id)
            lambda_client.create_function(
                FunctionName=name,
                Runtime=function.runtime,
                Role=LOCAL_LAMBDA_ROLE,
                Handler=function.handler,
                Code={"ZipFile": _code_zip(self._template, function)},
                Timeout=function.timeout,
                MemorySize=function.memory_size,
            )
            created.function_names[logical_id] = name

    def _create_state_machines(self, created: CreatedResources) -> None:
        sfn = self._moto.client("stepfunctions")
        for logical_id, machine in self._template.state_machines.items():
            name = self._resolver.resolve_str(machine.name) if machine.name else self._name(logical_id)
            if machine.definition_uri:
                text = (self._template.root / machine.definition_uri).read_text(encoding="utf-8")
            elif machine.definition is not None:
                text = json.dumps(self._resolver.resolve(machine.definition))
            else:
                raise TemplateError(f"{logical_id} has neither DefinitionUri nor Definition")
            substitutions = {
                key: self._resolver.resolve_str(value) for key, value in machine.substitutions.items()
            }
            definition = substitute_definition(text, substitutions)
            json.loads(definition)  # a definition that is not JSON fails here, naming no AWS error
            arn = sfn.create_state_machine(
                name=name,
                definition=definition,
                roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/qbosync-local-states",
                type=machine.machine_type,
            )["stateMachineArn"]
            created.state_machine_arns[logical_id] = arn
            self._resources.refs[logical_id] = arn
            self._resources.attributes[(logical_id, "Arn")] = arn
            self._resources.attributes[(logical_id, "Name")] = name


def _code_zip(template: TemplateModel, function: FunctionModel) -> bytes:
    """The handler module zipped, so moto has code to describe (it never runs it: we do)."""
    buffer = io.BytesIO()
    source = template.root / function.code_uri / (function.handler_module.replace(".", "/") + ".py")
    with zipfile.ZipFile(buffer, "w") as archive:
        if source.is_file():
            archive.write(source, arcname=source.name)
        else:
            archive.writestr("README.txt", f"{function.logical_id}: handler not written yet")
    return buffer.getvalue()
