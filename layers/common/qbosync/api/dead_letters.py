"""Dead letters: push and pull messages that failed too often, per tenant, and sending one back.

``GET  /tenants/{tenant_id}/sync/dead-letters`` lists the tenant's messages in the push and pull
dead-letter queues (never another tenant's) and leaves them there; ``POST
/tenants/{tenant_id}/sync/dead-letters/{message_id}/redrive`` sends one back to the queue it came from
(202; 404 when the tenant has no such message). The lead includes ``dead_letters_router`` in the
admin API resolver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ValidationError

from qbosync.api.auth import require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.store.dead_letters import (
    DeadLetter,
    DeadLetterQueues,
    LetterIdentity,
    MessageReader,
    QueueKind,
)
from qbosync.sync.records.messages import PullMessage, PushMessage

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
MessageId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]


def read_push_body(body: str) -> LetterIdentity | None:
    """A push queue body: its tenant, event, kind and source object, and its FIFO group and dedupe id."""
    try:
        message = PushMessage.model_validate_json(body)
    except ValidationError:
        return None
    return LetterIdentity(
        tenant_id=message.tenant_id,
        event_id=message.event_id,
        kind=str(message.kind),
        object_id=message.source_id,
        group_id=message.group_id,
        deduplication_id=message.deduplication_id,
    )


def read_pull_body(body: str) -> LetterIdentity | None:
    """A pull queue body: its tenant, the sync event id of the QBO change, ``qbo.{entity}`` and its id."""
    try:
        message = PullMessage.model_validate_json(body)
    except ValidationError:
        return None
    change = message.change
    return LetterIdentity(
        tenant_id=message.tenant_id,
        event_id=change.event_id,
        kind=f"qbo.{change.entity.lower()}",
        object_id=change.entity_id,
    )


MESSAGE_READERS: Mapping[QueueKind, MessageReader] = {"push": read_push_body, "pull": read_pull_body}


def default_dead_letter_queues() -> DeadLetterQueues:
    """The deployed DLQs (URLs from the settings), read with the push and pull message models."""
    return DeadLetterQueues(readers=MESSAGE_READERS)


class DeadLetterView(BaseModel):
    """One dead-lettered message as an admin sees it."""

    queue: QueueKind
    message_id: str
    event_id: str
    kind: str
    object_id: str
    receive_count: int
    first_received_at: datetime | None = None
    sent_at: datetime | None = None
    redrives: int

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterView:
        return cls.model_validate(letter.model_dump(exclude={"tenant_id"}))


class DeadLetterList(BaseModel):
    items: list[DeadLetterView]
    complete: bool
    """False when some of the tenant's dead letters could not be read yet: the FIFO push DLQ shows
    ten per tenant at a time; the next ones show once earlier ones are redriven."""


class RedriveAccepted(BaseModel):
    message_id: str
    queue: QueueKind
    event_id: str
    status: Literal["redriven"] = "redriven"


def dead_letters_router(
    deps: ApiDependencies, queues: Callable[[], DeadLetterQueues] | None = None
) -> APIGatewayHttpRouter:
    """The dead-letter routes; ``queues`` builds the DLQ reader (lazily, on the first request)."""
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    factory = queues or default_dead_letter_queues
    built: list[DeadLetterQueues] = []

    def dead_letters() -> DeadLetterQueues:
        if not built:
            built.append(factory())
        return built[0]

    @router.get(
        "/tenants/<tenant_id>/sync/dead-letters",
        summary="List dead-lettered messages",
        description=(
            "Push and pull messages that failed too many times and wait in a dead-letter queue, "
            "oldest first. Listing leaves them in place. complete is false when more wait behind "
            "them (the FIFO push DLQ shows ten per tenant at a time)."
        ),
        responses={200: {"description": "The tenant's dead letters"}, **error_responses(401, 403, 404)},
        tags=["events"],
    )
    def list_dead_letters(tenant_id: TenantId) -> DeadLetterList:
        require_tenant(router, tenant_id, deps.tenants)
        listing = dead_letters().list(tenant_id)
        return DeadLetterList(
            items=[DeadLetterView.of(letter) for letter in listing.items], complete=listing.complete
        )

    @router.post(
        "/tenants/<tenant_id>/sync/dead-letters/<message_id>/redrive",
        summary="Send a dead-lettered message back to its queue",
        description="Once the cause is fixed: the message goes back to the push or pull queue it came from.",
        responses={202: {"description": "Sent back"}, **error_responses(401, 403, 404)},
        tags=["events"],
    )
    def redrive_dead_letter(tenant_id: TenantId, message_id: MessageId) -> Response[Any]:
        require_tenant(router, tenant_id, deps.tenants)
        letter = dead_letters().redrive(tenant_id, message_id)
        return Response(
            status_code=202,
            content_type=content_types.APPLICATION_JSON,
            body=RedriveAccepted(
                message_id=letter.message_id, queue=letter.queue, event_id=letter.event_id
            ).model_dump(mode="json"),
        )

    return router
