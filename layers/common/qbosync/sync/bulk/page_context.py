"""The collaborators one page (or one QBO → source step) works with."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from qbosync.qbo.client import QboClient
from qbosync.source.port import SourcePort
from qbosync.store.ledger import WriteLedger
from qbosync.store.links import LinkRepository
from qbosync.store.onboarding import Candidate, PlanEntry, PlanRepository, Suggestion, SuggestionRepository
from qbosync.sync.bulk.models import RunConfig
from qbosync.sync.records.links import new_link


class CreatedRecord(Protocol):
    """What a batch creation knows of the source record it created (``bulk.common.Creation``)."""

    @property
    def source_id(self) -> str: ...

    @property
    def source_version(self) -> int: ...


QBO_BATCH_MAX_ITEMS = 30


@dataclass(frozen=True)
class PageContext:
    tenant_id: str
    run_id: str
    config: RunConfig
    qbo: QboClient
    source: SourcePort
    links: LinkRepository
    clock: Callable[[], datetime]
    batch_size: int = QBO_BATCH_MAX_ITEMS
    ledger: WriteLedger = field(default_factory=WriteLedger)
    """Batch creates record their intents here (``bulk.common.create_in_batches``)."""
    suggestions: SuggestionRepository | None = None
    """Where ambiguous matches are listed and admins' decisions read (None: neither)."""
    plans: PlanRepository | None = None
    """Where the plan a run follows is read (``config.plan_id``)."""

    def departs_from_plan(self, planned_now: PlanEntry) -> bool:
        """True when the run follows a plan and this record's outcome is not the planned one: the
        record is left alone (``plan_changed``) for a new dry run to show."""
        if self.config.plan_id is None or self.plans is None:
            return False
        planned = self.plans.entry(
            self.tenant_id, self.config.plan_id, planned_now.entity, planned_now.source_id
        )
        return planned is None or not planned.same_outcome(planned_now)

    def open_suggestion(
        self, entity: str, source_id: str, source_name: str, candidates: Sequence[Candidate]
    ) -> None:
        """List an ambiguous match for an admin to decide (nothing when the run keeps no suggestions)."""
        if self.suggestions is None:
            return
        self.suggestions.record_open(
            Suggestion(
                tenant_id=self.tenant_id,
                entity=entity,
                source_id=source_id,
                source_name=source_name,
                candidates=list(candidates),
                found_at=self.clock(),
            )
        )

    def record_created_links(
        self, entity: str, created: Sequence[tuple[CreatedRecord, Mapping[str, Any]]]
    ) -> None:
        """Link each record this run created in QBO (origin ``qbosync``) before the page counts."""
        now = self.clock()
        self.links.put_many(
            [
                new_link(
                    self.tenant_id, entity, c.source_id, c.source_version, row, "qbosync", now
                ).model_copy(update={"created_by_run": self.run_id})
                for c, row in created
            ]
        )
