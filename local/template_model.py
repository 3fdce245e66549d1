"""template.yaml as typed models, so the local runtime creates exactly what the template declares.

The SAM template is the single source of truth for tables, queues, state machines, functions, routes and
schedules. ``load_template()`` reads it with a YAML loader that keeps CloudFormation's short-form
intrinsics (``!Ref``, ``!Sub``, ``!GetAtt``...) as ``Intrinsic`` values; ``IntrinsicResolver`` resolves
them against the local resource map (local table names, queue URLs, ARNs in moto's account). Anything
it cannot resolve raises ``UnresolvableIntrinsic`` naming the value, instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
LOCAL_REGION = "us-east-1"
# Without a RetryPolicy, a failed scheduled invocation is retried twice (Lambda's asynchronous default).
DEFAULT_SCHEDULE_RETRIES = 2
# The API's public base URL as the template writes it (its custom domain, or its execute-api host);
# locally, the front door's URL.
_PUBLIC_API_URL_FORMS = (
    "https://${ApiDomainName}",
    "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com",
)


class TemplateError(ValueError):
    """The template declares something the local runtime cannot model."""


class UnresolvableIntrinsic(TemplateError):
    """An intrinsic function refers to something that has no local value."""


@dataclass(frozen=True)
class Intrinsic:
    """A CloudFormation intrinsic kept as written: ``name`` is e.g. ``Ref``, ``Fn::Sub``."""

    name: str
    value: Any


_SHORT_FORMS = {
    "!Ref": "Ref",
    "!Sub": "Fn::Sub",
    "!GetAtt": "Fn::GetAtt",
    "!If": "Fn::If",
    "!Not": "Fn::Not",
    "!Equals": "Fn::Equals",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!FindInMap": "Fn::FindInMap",
    "!ImportValue": "Fn::ImportValue",
    "!Base64": "Fn::Base64",
    "!Condition": "Condition",
}
_LONG_FORMS = set(_SHORT_FORMS.values())


class _TemplateLoader(yaml.SafeLoader):
    """A safe loader that understands CloudFormation's ``!Tag`` short forms."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Intrinsic:
    name = _SHORT_FORMS.get(f"!{tag_suffix}")
    if name is None:
        raise TemplateError(f"unknown intrinsic tag !{tag_suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return Intrinsic(name, value)


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def _long_forms_to_intrinsics(value: Any) -> Any:
    """``{"Ref": X}`` and ``{"Fn::Sub": ...}`` written in long form become ``Intrinsic`` too."""
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), *_ = value.items()
            if key in _LONG_FORMS:
                return Intrinsic(key, _long_forms_to_intrinsics(inner))
        return {key: _long_forms_to_intrinsics(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_long_forms_to_intrinsics(item) for item in value]
    return value


# ---------------------------------------------------------------- models


@dataclass(frozen=True)
class TableModel:
    logical_id: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class QueueModel:
    logical_id: str
    fifo: bool
    visibility_timeout: int
    properties: dict[str, Any]
    dead_letter_target: str | None = None  # logical id of the DLQ
    max_receive_count: int | None = None


@dataclass(frozen=True)
class StateMachineModel:
    logical_id: str
    name: Any  # may be an intrinsic
    definition_uri: str | None
    definition: dict[str, Any] | None
    substitutions: dict[str, Any]
    machine_type: str = "STANDARD"  # or EXPRESS


@dataclass(frozen=True)
class HttpRouteModel:
    function_id: str
    event_id: str
    path: str
    method: str  # upper case, or ANY
    authorizer: str | None  # None = no authorizer
    scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsEventModel:
    function_id: str
    event_id: str
    queue: Any  # intrinsic resolving to the queue ARN
    batch_size: int
    report_batch_item_failures: bool
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleModel:
    function_id: str  # the target: a function, or a state machine when target_kind says so
    event_id: str
    kind: str  # Schedule or ScheduleV2
    expression: Any  # a string once resolved; may be an intrinsic (e.g. !Ref of a parameter)
    input: Any | None
    enabled: bool = True
    target_kind: str = "function"  # or "state_machine": the schedule starts an execution
    retry_attempts: int = 2  # RetryPolicy.MaximumRetryAttempts

    def resolved(self, resolver: IntrinsicResolver) -> ScheduleModel:
        """The same schedule with its expression and input as plain values."""
        return replace(
            self, expression=resolver.resolve_str(self.expression), input=resolver.resolve(self.input)
        )


@dataclass(frozen=True)
class FunctionModel:
    logical_id: str
    code_uri: str
    handler: str
    timeout: int
    memory_size: int
    runtime: str
    environment: dict[str, Any]  # globals merged with the function's own; values may be intrinsics
    properties: dict[str, Any]

    @property
    def handler_module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def handler_function(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class JwtAuthorizerModel:
    name: str
    issuer: Any
    audience: list[Any]
    identity_source: str


@dataclass(frozen=True)
class TemplateModel:
    path: Path
    parameters: dict[str, dict[str, Any]]
    conditions: dict[str, Any]
    resources: dict[str, dict[str, Any]]
    tables: dict[str, TableModel]
    queues: dict[str, QueueModel]
    state_machines: dict[str, StateMachineModel]
    functions: dict[str, FunctionModel]
    routes: list[HttpRouteModel]
    sqs_events: list[SqsEventModel]
    schedules: list[ScheduleModel]
    http_api_id: str | None
    default_authorizer: str | None
    jwt_authorizers: dict[str, JwtAuthorizerModel] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent


# ---------------------------------------------------------------- parsing


def read_template(path: Path) -> dict[str, Any]:
    """The raw template, with every intrinsic as an ``Intrinsic``."""
    with path.open(encoding="utf-8") as handle:
        raw = yaml.load(handle, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(raw, dict) or "Resources" not in raw:
        raise TemplateError(f"{path} is not a CloudFormation template")
    result: dict[str, Any] = _long_forms_to_intrinsics(raw)
    return result


def load_template(path: Path) -> TemplateModel:
    """Parse a SAM template into the models the local runtime needs."""
    raw = read_template(path)
    resources: dict[str, dict[str, Any]] = raw["Resources"]
    globals_function: dict[str, Any] = raw.get("Globals", {}).get("Function", {})

    tables: dict[str, TableModel] = {}
    queues: dict[str, QueueModel] = {}
    state_machines: dict[str, StateMachineModel] = {}
    functions: dict[str, FunctionModel] = {}
    routes: list[HttpRouteModel] = []
    sqs_events: list[SqsEventModel] = []
    schedules: list[ScheduleModel] = []
    http_api_id: str | None = None
    default_authorizer: str | None = None
    jwt_authorizers: dict[str, JwtAuthorizerModel] = {}

    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        props: dict[str, Any] = resource.get("Properties", {}) or {}
        if kind == "AWS::DynamoDB::Table":
            tables[logical_id] = TableModel(logical_id, props)
        elif kind == "AWS::SQS::Queue":
            queues[logical_id] = _queue_model(logical_id, props)
        elif kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            state_machines[logical_id] = _state_machine_model(logical_id, props, schedules)
        elif kind == "AWS::Serverless::HttpApi":
            if http_api_id is not None:
                raise TemplateError("the local runtime models one HttpApi; the template declares several")
            http_api_id = logical_id
            default_authorizer, jwt_authorizers = _http_api_authorizers(props)
        elif kind == "AWS::Lambda::EventSourceMapping":
            sqs_events.append(_event_source_mapping_model(logical_id, props))
        elif kind == "AWS::Serverless::Function":
            function = _function_model(logical_id, props, globals_function)
            functions[logical_id] = function
            for event_id, event in (props.get("Events", {}) or {}).items():
                _event_model(
                    function.logical_id,
                    event_id,
                    event,
                    routes=routes,
                    sqs_events=sqs_events,
                    schedules=schedules,
                )

    routes = [_with_default_authorizer(route, default_authorizer) for route in routes]
    for route in routes:
        if route.authorizer is not None and route.authorizer not in jwt_authorizers:
            raise TemplateError(f"route {route.route_key} uses unknown authorizer {route.authorizer}")
    return TemplateModel(
        path=path,
        parameters=raw.get("Parameters", {}) or {},
        conditions=raw.get("Conditions", {}) or {},
        resources=resources,
        tables=tables,
        queues=queues,
        state_machines=state_machines,
        functions=functions,
        routes=routes,
        sqs_events=sqs_events,
        schedules=schedules,
        http_api_id=http_api_id,
        default_authorizer=default_authorizer,
        jwt_authorizers=jwt_authorizers,
    )


_DEFAULT_AUTHORIZER = "__default__"


def _http_api_authorizers(props: dict[str, Any]) -> tuple[str | None, dict[str, JwtAuthorizerModel]]:
    """The HttpApi's default authorizer and its JWT authorizers by name."""
    auth = props.get("Auth", {}) or {}
    authorizers: dict[str, JwtAuthorizerModel] = {}
    for name, config in (auth.get("Authorizers", {}) or {}).items():
        jwt = config.get("JwtConfiguration")
        if jwt is None:
            raise TemplateError(f"authorizer {name}: only JWT authorizers are modelled")
        audience = jwt.get("audience", [])
        authorizers[name] = JwtAuthorizerModel(
            name=name,
            issuer=jwt.get("issuer"),
            audience=audience if isinstance(audience, list) else [audience],
            identity_source=config.get("IdentitySource", "$request.header.Authorization"),
        )
    return auth.get("DefaultAuthorizer"), authorizers


def _with_default_authorizer(route: HttpRouteModel, default: str | None) -> HttpRouteModel:
    if route.authorizer != _DEFAULT_AUTHORIZER:
        return route
    return HttpRouteModel(route.function_id, route.event_id, route.path, route.method, default, route.scopes)


def _state_machine_model(
    logical_id: str, props: dict[str, Any], schedules: list[ScheduleModel]
) -> StateMachineModel:
    """The state machine, and its schedule events (which start executions) added to ``schedules``."""
    for event_id, event in (props.get("Events", {}) or {}).items():
        if event.get("Type") not in ("Schedule", "ScheduleV2"):
            raise TemplateError(f"{logical_id}.{event_id}: only schedules start state machines locally")
        found: list[ScheduleModel] = []
        _event_model(logical_id, event_id, event, routes=[], sqs_events=[], schedules=found)
        schedules.extend(replace(schedule, target_kind="state_machine") for schedule in found)
    return StateMachineModel(
        logical_id=logical_id,
        name=props.get("Name", props.get("StateMachineName")),
        definition_uri=props.get("DefinitionUri"),
        definition=props.get("Definition"),
        substitutions=props.get("DefinitionSubstitutions", {}) or {},
        machine_type=str(props.get("Type", "STANDARD")),
    )


def _event_source_mapping_model(logical_id: str, props: dict[str, Any]) -> SqsEventModel:
    """A plain event source mapping (what a SAM SQS event becomes), for a queue of this template."""
    function = props.get("FunctionName")
    source = props.get("EventSourceArn")
    if not (isinstance(function, Intrinsic) and function.name == "Ref"):
        raise TemplateError(f"{logical_id}: FunctionName must be !Ref <Function>")
    if not (isinstance(source, Intrinsic) and source.name == "Fn::GetAtt" and source.value[1] == "Arn"):
        raise TemplateError(f"{logical_id}: only SQS queues (!GetAtt <Queue>.Arn) are modelled")
    return SqsEventModel(
        function_id=str(function.value),
        event_id=logical_id,
        queue=source,
        batch_size=int(props.get("BatchSize", 10)),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        enabled=bool(props.get("Enabled", True)),
    )


def _queue_model(logical_id: str, props: dict[str, Any]) -> QueueModel:
    redrive = props.get("RedrivePolicy") or {}
    target = redrive.get("deadLetterTargetArn")
    target_id: str | None = None
    if target is not None:
        if not (isinstance(target, Intrinsic) and target.name == "Fn::GetAtt" and target.value[1] == "Arn"):
            raise TemplateError(f"{logical_id}: deadLetterTargetArn must be !GetAtt <Queue>.Arn")
        target_id = target.value[0]
    return QueueModel(
        logical_id=logical_id,
        fifo=bool(props.get("FifoQueue", False)),
        visibility_timeout=int(props.get("VisibilityTimeout", 30)),
        properties=props,
        dead_letter_target=target_id,
        max_receive_count=int(redrive["maxReceiveCount"]) if target_id else None,
    )


def _function_model(
    logical_id: str, props: dict[str, Any], globals_function: dict[str, Any]
) -> FunctionModel:
    def setting(name: str, default: Any) -> Any:
        return props.get(name, globals_function.get(name, default))

    environment: dict[str, Any] = {}
    environment.update((globals_function.get("Environment", {}) or {}).get("Variables", {}) or {})
    environment.update((props.get("Environment", {}) or {}).get("Variables", {}) or {})
    code_uri = setting("CodeUri", None)
    handler = setting("Handler", None)
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id}: CodeUri and Handler (module.function) are required")
    return FunctionModel(
        logical_id=logical_id,
        code_uri=code_uri,
        handler=handler,
        timeout=int(setting("Timeout", 3)),
        memory_size=int(setting("MemorySize", 128)),
        runtime=str(setting("Runtime", "python3.11")),
        environment=environment,
        properties=props,
    )


def _event_model(
    function_id: str,
    event_id: str,
    event: dict[str, Any],
    *,
    routes: list[HttpRouteModel],
    sqs_events: list[SqsEventModel],
    schedules: list[ScheduleModel],
) -> None:
    kind = event.get("Type")
    props: dict[str, Any] = event.get("Properties", {}) or {}
    if kind == "HttpApi":
        auth = props.get("Auth", {}) or {}
        authorizer = auth.get("Authorizer", _DEFAULT_AUTHORIZER)
        method = str(props.get("Method", "ANY")).upper()
        routes.append(
            HttpRouteModel(
                function_id=function_id,
                event_id=event_id,
                path=str(props.get("Path", "$default")),
                method="ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method,
                authorizer=None if authorizer == "NONE" else authorizer,
                scopes=tuple(auth.get("AuthorizationScopes", []) or []),
            )
        )
    elif kind == "SQS":
        sqs_events.append(
            SqsEventModel(
                function_id=function_id,
                event_id=event_id,
                queue=props["Queue"],
                batch_size=int(props.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (props.get("FunctionResponseTypes", []) or []),
                enabled=bool(props.get("Enabled", True)),
            )
        )
    elif kind in ("Schedule", "ScheduleV2"):
        expression = props.get("Schedule") if kind == "Schedule" else props.get("ScheduleExpression")
        if not isinstance(expression, str | Intrinsic):
            raise TemplateError(f"{function_id}.{event_id}: the schedule has no expression")
        retry_policy = props.get("RetryPolicy") or {}
        enabled = props.get("Enabled", True)
        if kind == "ScheduleV2" and "State" in props:
            enabled = props["State"] == "ENABLED"
        schedules.append(
            ScheduleModel(
                function_id=function_id,
                event_id=event_id,
                kind=kind,
                expression=expression,
                input=props.get("Input"),
                enabled=bool(enabled),
                retry_attempts=int(retry_policy.get("MaximumRetryAttempts", DEFAULT_SCHEDULE_RETRIES)),
            )
        )
    else:
        raise TemplateError(f"{function_id}.{event_id}: event type {kind!r} is not modelled locally")


# ---------------------------------------------------------------- intrinsics


@dataclass
class LocalResourceMap:
    """What each logical id is called locally (``Ref``) and its attributes (``GetAtt``)."""

    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    api_base_url: str | None = None  # where the HttpApi is served locally


class IntrinsicResolver:
    """Resolves ``Intrinsic`` values against local resources; an unknown name is an error."""

    def __init__(self, template: TemplateModel, resources: LocalResourceMap) -> None:
        self._template = template
        self._resources = resources

    def pseudo_parameters(self) -> dict[str, str]:
        return {
            "AWS::Region": LOCAL_REGION,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": f"qbosync-{self.parameter('Stage')}",
            "AWS::StackId": f"arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stack/qbosync/local",
            "AWS::NoValue": "",
        }

    def parameter(self, name: str) -> str:
        if name in self._resources.parameters:
            return self._resources.parameters[name]
        declared = self._template.parameters.get(name)
        if declared is None:
            raise UnresolvableIntrinsic(f"parameter {name} is not declared in the template")
        if "Default" not in declared:
            raise UnresolvableIntrinsic(f"parameter {name} has no default and no local value")
        return str(declared["Default"])

    def ref(self, name: str) -> str:
        if name.startswith("AWS::"):
            pseudo = self.pseudo_parameters()
            if name not in pseudo:
                raise UnresolvableIntrinsic(f"pseudo parameter {name} has no local value")
            return pseudo[name]
        if name in self._template.parameters or name in self._resources.parameters:
            return self.parameter(name)
        if name in self._resources.refs:
            return self._resources.refs[name]
        raise UnresolvableIntrinsic(f"!Ref {name}: no local resource or parameter has that name")

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self._resources.attributes[(logical_id, attribute)]
        except KeyError:
            raise UnresolvableIntrinsic(f"!GetAtt {logical_id}.{attribute} has no local value") from None

    def condition(self, name: str) -> bool:
        if name not in self._template.conditions:
            raise UnresolvableIntrinsic(f"condition {name} is not declared")
        return bool(self.resolve(self._template.conditions[name]))

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic inside ``value`` (dicts and lists are walked)."""
        if isinstance(value, Intrinsic):
            return self._resolve_intrinsic(value)
        if isinstance(value, dict):
            return {key: self.resolve(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def resolve_str(self, value: Any) -> str:
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if not isinstance(resolved, str | int | float):
            raise UnresolvableIntrinsic(f"{value!r} does not resolve to a string")
        return str(resolved)

    def _resolve_intrinsic(self, intrinsic: Intrinsic) -> Any:
        handlers: dict[str, Any] = {
            "Ref": lambda value: self.ref(str(value)),
            "Fn::GetAtt": self._get_att_value,
            "Fn::Sub": self._sub,
            "Fn::If": lambda value: self.resolve(value[1] if self.condition(value[0]) else value[2]),
            "Fn::Not": lambda value: not self.resolve(value[0]),
            "Fn::Equals": lambda value: self.resolve(value[0]) == self.resolve(value[1]),
            "Fn::And": lambda value: all(self.resolve(item) for item in value),
            "Fn::Or": lambda value: any(self.resolve(item) for item in value),
            "Condition": lambda value: self.condition(str(value)),
            "Fn::Join": lambda value: str(value[0]).join(
                self.resolve_str(item) for item in self.resolve(value[1])
            ),
            "Fn::Select": lambda value: self.resolve(value[1])[int(self.resolve(value[0]))],
            "Fn::Split": lambda value: self.resolve_str(value[1]).split(value[0]),
        }
        handler = handlers.get(intrinsic.name)
        if handler is None:
            raise UnresolvableIntrinsic(f"{intrinsic.name} is not supported by the local runtime")
        return handler(intrinsic.value)

    def _get_att_value(self, value: Any) -> str:
        parts = value if isinstance(value, list) else str(value).split(".", 1)
        return self.get_att(str(parts[0]), str(parts[1]))

    def _sub(self, value: Any) -> str:
        if isinstance(value, list):
            template, variables = value[0], {k: self.resolve_str(v) for k, v in value[1].items()}
        else:
            template, variables = value, {}
        text = str(template)
        if self._resources.api_base_url is not None:
            for public_url in _PUBLIC_API_URL_FORMS:
                text = text.replace(public_url, self._resources.api_base_url)

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return variables[expression]
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(expression)

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def resolve_environment(function: FunctionModel, resolver: IntrinsicResolver) -> dict[str, str]:
    """The function's environment variables as strings, every intrinsic resolved."""
    return {name: resolver.resolve_str(value) for name, value in function.environment.items()}


def substitute_definition(definition: str, substitutions: Mapping[str, str]) -> str:
    """``DefinitionSubstitutions``: replace ``${Name}`` placeholders; an unknown one is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise UnresolvableIntrinsic(f"definition placeholder ${{{name}}} has no DefinitionSubstitution")
        return substitutions[name]

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", replace, definition)
