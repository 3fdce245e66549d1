"""QBO faults as typed exceptions, classified by fault code and HTTP status (never by message text).

QBO reports errors in several shapes (qbo-api.md §5-§7): the JSON ``Fault`` envelope, a lowercase
JSON variant on some 401s, XML from the gateway on 401 and throttling, a Fault inside an HTTP 200
body, and a Fault inside one item of a batch response. ``fault_from_response`` and
``fault_from_payload`` turn each into one of the classes below.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any


class QboFault(Exception):
    """An error QBO reported (or, for subclasses without a status, a failure to reach it)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        element: str | None = None,
        fault_type: str | None = None,
        intuit_tid: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.fault_type = fault_type
        self.intuit_tid = intuit_tid

    retryable = False
    """True when the same request may succeed later unchanged."""

    def __str__(self) -> str:
        parts = [f"QBO {self.fault_type or 'fault'}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"code {self.code}")
        text = " ".join(parts) + f": {self.message}"
        if self.detail:
            text += f" ({self.detail})"
        return text

    def redact(self, secrets: Iterable[str]) -> None:
        """Remove secret values QBO might have echoed back, so the fault is safe to log and report."""
        for secret in secrets:
            if not secret:
                continue
            self.message = self.message.replace(secret, "***")
            if self.detail:
                self.detail = self.detail.replace(secret, "***")
        self.args = (self.message,)


class QboAuthenticationFault(QboFault):
    """401: the access token is expired, revoked, or belongs to another realm."""


class QboAuthorizationFault(QboFault):
    """403: the user or app may not do this (e.g. not an admin, subscription lapsed)."""


class QboValidationFault(QboFault):
    """400: QBO refused the request as written; sending it again unchanged fails again."""


class QboStaleObject(QboValidationFault):
    """5010: the SyncToken sent is not the current one; read the entity again and re-apply."""


class QboDuplicateName(QboValidationFault):
    """6240: a Customer/Vendor/Employee (or Item) already uses this name."""


class QboDuplicateDocNumber(QboValidationFault):
    """6140: the DocNumber is already used by another transaction of this type."""


class QboClosedPeriod(QboValidationFault):
    """6210: the transaction date falls in a closed accounting period."""


class QboDepositedTransaction(QboValidationFault):
    """6540: the payment was deposited; the Deposit must be changed first."""


class QboNotFound(QboFault):
    """404 or 610: the entity (or an entity it references) does not exist or is inactive."""


class QboInvalidReference(QboNotFound, QboValidationFault):
    """2500: a reference (CustomerRef, ItemRef, LinkedTxn...) names an id QBO does not know."""


class QboThrottled(QboFault):
    """429 or code 3001: too many requests for the realm; wait ``retry_after`` seconds if given."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class QboServerFault(QboFault):
    """5xx or a SystemFault: QBO failed; the request may succeed if sent again."""

    retryable = True


class QboUnreachable(QboFault):
    """QBO could not be reached (connection refused, timeouts) after every attempt."""

    retryable = True


class QboUncertainOutcome(QboFault):
    """A write may or may not have been applied: its response never arrived.

    The caller must look (query by DocNumber, DisplayName...) before writing again with a new
    requestid; repeating the same requestid is safe, because QBO replays the original response.
    """

    retryable = True

    def __init__(self, message: str, *, request_id: str | None, entity: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_id = request_id
        self.entity = entity


_FAULT_BY_CODE: dict[str, type[QboFault]] = {
    "5010": QboStaleObject,
    "6240": QboDuplicateName,
    "6140": QboDuplicateDocNumber,
    "6210": QboClosedPeriod,
    "6540": QboDepositedTransaction,
    "610": QboNotFound,
    "2500": QboInvalidReference,
    "3001": QboThrottled,
    "3100": QboAuthorizationFault,
    "3200": QboAuthenticationFault,
}

_FAULT_BY_TYPE: dict[str, type[QboFault]] = {
    "validationfault": QboValidationFault,
    "systemfault": QboServerFault,
    "service": QboServerFault,
    "authenticationfault": QboAuthenticationFault,
    "authentication": QboAuthenticationFault,
    "authorizationfault": QboAuthorizationFault,
}


# Status decides the family for auth and throttling, whatever code the body carries.
_FAULT_BY_STATUS: dict[int, type[QboFault]] = {401: QboAuthenticationFault, 429: QboThrottled}
_FALLBACK_BY_STATUS: dict[int, type[QboFault]] = {403: QboAuthorizationFault, 404: QboNotFound}


def _class_for(status: int | None, code: str | None, fault_type: str | None) -> type[QboFault]:
    if status in _FAULT_BY_STATUS:
        return _FAULT_BY_STATUS[status]
    by_code = _FAULT_BY_CODE.get((code or "").lstrip("0"))
    by_status = _FALLBACK_BY_STATUS.get(status) if status is not None else None
    chosen = by_code or by_status
    if chosen is not None:
        return chosen
    if status is None:
        # A Fault inside an HTTP 200 or a batch item: only its type says what kind it is.
        return _FAULT_BY_TYPE.get((fault_type or "").lower(), QboValidationFault)
    return QboServerFault if status >= 500 else QboValidationFault


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: either delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _build(
    cls: type[QboFault],
    *,
    status: int | None,
    code: str | None,
    message: str | None,
    detail: str | None,
    element: str | None,
    fault_type: str | None,
    intuit_tid: str | None,
    retry_after: float | None,
) -> QboFault:
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "detail": detail,
        "element": element or None,
        "fault_type": fault_type,
        "intuit_tid": intuit_tid,
    }
    text = message or "QBO reported an error without a message"
    if cls is QboThrottled:
        return QboThrottled(text, retry_after=retry_after, **common)
    return cls(text, **common)


def fault_from_payload(
    payload: Mapping[str, Any],
    *,
    status: int | None = None,
    intuit_tid: str | None = None,
    retry_after: float | None = None,
) -> QboFault | None:
    """The fault in a JSON body (``{"Fault": ...}`` or lowercase ``{"fault": ...}``), or None if none.

    Works for whole response bodies, HTTP 200 bodies carrying a Fault, and batch response items.
    """
    fault = payload.get("Fault") or payload.get("fault")
    if not isinstance(fault, Mapping):
        return None
    errors = fault.get("Error") or fault.get("error") or []
    first: Mapping[str, Any] = errors[0] if errors and isinstance(errors[0], Mapping) else {}

    def pick(*keys: str) -> str | None:
        for key in keys:
            if first.get(key) not in (None, ""):
                return str(first[key])
        return None

    fault_type = fault.get("type")
    code = pick("code", "Code")
    return _build(
        _class_for(status, code, fault_type if isinstance(fault_type, str) else None),
        status=status,
        code=code,
        message=pick("Message", "message"),
        detail=pick("Detail", "detail"),
        element=pick("element", "Element"),
        fault_type=fault_type if isinstance(fault_type, str) else None,
        intuit_tid=intuit_tid,
        retry_after=retry_after,
    )


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_xml_fault(
    body: bytes, *, status: int, intuit_tid: str | None, retry_after: float | None
) -> QboFault | None:
    # The body comes from Intuit's gateway over TLS, is tiny, and Python's expat (>= 2.4.1)
    # refuses entity-expansion attacks, so the standard parser is safe enough here.
    try:
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError:
        return None
    fault = root if _local_name(root.tag) == "Fault" else None
    if fault is None:
        fault = next((el for el in root.iter() if _local_name(el.tag) == "Fault"), None)
    if fault is None:
        return None
    error = next((el for el in fault.iter() if _local_name(el.tag) == "Error"), None)
    code = error.get("code") if error is not None else None
    message = detail = None
    element = error.get("element") if error is not None else None
    if error is not None:
        for child in error:
            name = _local_name(child.tag)
            if name == "Message":
                message = (child.text or "").strip() or None
            elif name == "Detail":
                detail = (child.text or "").strip() or None
    fault_type = fault.get("type")
    return _build(
        _class_for(status, code, fault_type),
        status=status,
        code=code,
        message=message,
        detail=detail,
        element=element,
        fault_type=fault_type,
        intuit_tid=intuit_tid,
        retry_after=retry_after,
    )


def fault_from_response(
    status: int, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> QboFault:
    """The typed fault for an error response, whatever its body shape (JSON, lowercase JSON, XML, none)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    intuit_tid = lowered.get("intuit_tid")
    retry_after = retry_after_seconds(lowered.get("retry-after"), now=now)
    stripped = body.strip()
    if stripped.startswith(b"{"):
        try:
            payload = json.loads(stripped)
        except ValueError:
            payload = None
        if isinstance(payload, Mapping):
            fault = fault_from_payload(payload, status=status, intuit_tid=intuit_tid, retry_after=retry_after)
            if fault is not None:
                return fault
    elif stripped.startswith(b"<"):
        fault = _parse_xml_fault(stripped, status=status, intuit_tid=intuit_tid, retry_after=retry_after)
        if fault is not None:
            return fault
    return _build(
        _class_for(status, None, None),
        status=status,
        code=None,
        message=f"QBO answered HTTP {status}",
        detail=None,
        element=None,
        fault_type=None,
        intuit_tid=intuit_tid,
        retry_after=retry_after,
    )
