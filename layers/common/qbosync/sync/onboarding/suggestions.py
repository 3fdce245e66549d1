"""Ambiguous matches an admin decides: confirm one candidate, or reject them all (create a new record,
or skip it). Nothing is linked or created for an open suggestion; a decision is kept across runs and
the next initial sync follows it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qbosync.errors import Conflict, NotFound, ValidationFailed
from qbosync.observability import logger
from qbosync.store.onboarding import Suggestion, SuggestionRepository, SuggestionStatus
from qbosync.store.table import Page


class SuggestionNotFound(NotFound):
    code = "suggestion_not_found"


class NotACandidate(ValidationFailed):
    code = "not_a_candidate"


class SuggestionDecided(Conflict):
    code = "suggestion_decided"


class SuggestionDecision(BaseModel):
    """``confirm`` one candidate (``qbo_id``), or reject every candidate: ``create`` a new QBO record,
    or ``skip`` the source record."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["confirm", "create", "skip"]
    qbo_id: str | None = Field(None, min_length=1, max_length=64)


_STATUS = {
    "confirm": SuggestionStatus.CONFIRMED,
    "create": SuggestionStatus.CREATE_NEW,
    "skip": SuggestionStatus.SKIPPED,
}


class SuggestionService:
    def __init__(self, suggestions: SuggestionRepository, clock: Callable[[], datetime]) -> None:
        self._suggestions = suggestions
        self._clock = clock

    def list(self, tenant_id: str, *, limit: int = 100, cursor: str | None = None) -> Page[Suggestion]:
        return self._suggestions.list(tenant_id, limit=limit, cursor=cursor)

    def decide(
        self, tenant_id: str, entity: str, source_id: str, decision: SuggestionDecision, admin: str
    ) -> Suggestion:
        """Record the admin's decision; a decision already taken is changed only to the same one."""
        if (decision.action == "confirm") != (decision.qbo_id is not None):
            raise ValidationFailed("qbo_id is required to confirm, and only then", code="invalid_decision")
        found = self._suggestions.get(tenant_id, entity, source_id)
        if found is None:
            raise SuggestionNotFound(f"no suggestion for {entity} {source_id}")
        status = _STATUS[decision.action]
        if decision.qbo_id is not None and decision.qbo_id not in {c.qbo_id for c in found.candidates}:
            raise NotACandidate(
                f"QBO record {decision.qbo_id} is not a candidate of this suggestion",
                details=[{"candidates": [c.qbo_id for c in found.candidates]}],
            )
        if found.status is not SuggestionStatus.OPEN:
            if found.status is status and found.chosen_qbo_id == decision.qbo_id:
                return found  # the same decision again: nothing changes
            raise SuggestionDecided(
                f"this suggestion was already decided ({found.status.value}) by {found.decided_by}",
                details=[{"status": found.status.value, "chosen_qbo_id": found.chosen_qbo_id}],
            )
        decided = found.model_copy(
            update={
                "status": status,
                "chosen_qbo_id": decision.qbo_id,
                "decided_by": admin,
                "decided_at": self._clock(),
            }
        )
        self._suggestions.put(decided)
        logger.info(
            "suggestion decided",
            extra={"tenant_id": tenant_id, "entity": entity, "source_id": source_id, "status": status},
        )
        return decided
