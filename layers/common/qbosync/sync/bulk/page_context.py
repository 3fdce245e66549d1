"""The collaborators one page (or one QBO → source step) works with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from qbosync.qbo.client import QboClient
from qbosync.source.port import SourcePort
from qbosync.store.links import LinkRepository
from qbosync.sync.bulk.models import RunConfig

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
