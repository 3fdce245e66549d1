"""How a flow's failure becomes a sync event's reason code (the codes are ``store.events.ReasonCode``)."""

from __future__ import annotations

from qbosync.qbo.faults import (
    QboAuthorizationFault,
    QboClosedPeriod,
    QboDepositedTransaction,
    QboDuplicateDocNumber,
    QboFault,
    QboNotFound,
)
from qbosync.store.events import QboFaultInfo, ReasonCode


def fault_code(fault: QboFault) -> ReasonCode:
    """The reason code of a QBO refusal, by the fault's type."""
    if isinstance(fault, QboClosedPeriod):
        return ReasonCode.QBO_CLOSED_PERIOD
    if isinstance(fault, QboDepositedTransaction):
        return ReasonCode.QBO_DEPOSITED_TRANSACTION
    if isinstance(fault, QboDuplicateDocNumber):
        return ReasonCode.QBO_DUPLICATE_DOC_NUMBER
    if isinstance(fault, QboNotFound):
        return ReasonCode.QBO_REFERENCE_NOT_FOUND
    if isinstance(fault, QboAuthorizationFault):
        return ReasonCode.QBO_NOT_AUTHORIZED
    return ReasonCode.QBO_REJECTED


def fault_info(fault: QboFault) -> QboFaultInfo:
    """The QBO fault as the event keeps it: QBO's code (or the HTTP status) and message."""
    return QboFaultInfo(code=fault.code or str(fault.status or ""), message=str(fault))
