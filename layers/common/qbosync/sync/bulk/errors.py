"""Errors as Step Functions sees them: the class name of what a task raises is the state's ``errorType``.

The state machine retries ``BulkSyncThrottled`` and ``BulkSyncTransient`` with backoff and catches
everything else as a failed page. ``step_functions_errors`` turns the library's exceptions into these,
so the definition never has to know QBO's or the source's exception classes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from qbosync.errors import UpstreamUnavailable
from qbosync.qbo.faults import (
    QboServerFault,
    QboThrottled,
    QboUncertainOutcome,
    QboUnreachable,
)
from qbosync.qbo.governor import GovernorTimeout
from qbosync.source.errors import SourceUnavailable
from qbosync.store.table import StoreUnavailable


class BulkSyncThrottled(Exception):
    """QBO kept answering 429 (or the realm's budget stayed spent) beyond the client's own retries."""


class BulkSyncTransient(Exception):
    """QBO, the source or AWS failed in a way that a later attempt of the same task may not."""


class BulkSyncPageRejected(Exception):
    """The page cannot succeed as things stand (bad data, refused request, missing configuration)."""


class BulkSyncBadEvent(Exception):
    """The task event does not match any task: a defect in the state machine, never retried."""


class BulkSyncPreflightFailed(Exception):
    """The tenant is no longer ready to sync (connection lost, mapping target deleted...)."""


class BulkSyncPlanStale(Exception):
    """The run follows a dry run's plan and records would now be handled otherwise: nothing is written,
    the admin makes a new dry run."""


_TRANSIENT = (
    QboServerFault,
    QboUnreachable,
    QboUncertainOutcome,
    SourceUnavailable,
    UpstreamUnavailable,
    StoreUnavailable,
)


@contextmanager
def step_functions_errors() -> Iterator[None]:
    """Re-raise whatever escapes as one of the error types the state machine retries or catches."""
    try:
        yield
    except (
        BulkSyncThrottled,
        BulkSyncTransient,
        BulkSyncPageRejected,
        BulkSyncBadEvent,
        BulkSyncPreflightFailed,
        BulkSyncPlanStale,
    ):
        raise
    except (QboThrottled, GovernorTimeout) as exc:
        raise BulkSyncThrottled(_describe(exc)) from exc
    except _TRANSIENT as exc:
        raise BulkSyncTransient(_describe(exc)) from exc
    except Exception as exc:
        raise BulkSyncPageRejected(_describe(exc)) from exc


def _describe(exc: Exception) -> str:
    """A reason safe to store and show: the failure's type and message (faults are redacted already)."""
    message = str(exc) or exc.__class__.__doc__ or ""
    return f"{type(exc).__name__}: {message.strip()}"[:500]
