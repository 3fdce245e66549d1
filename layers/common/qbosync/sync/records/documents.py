"""Finding the QBO document a source document already is: what onboarding a tenant with existing books
needs, shared by the push (documents dated before go-live) and the initial sync (document matching).

A QBO document is the source's when its number is the source's number with or without the configured
prefix, its customer is the source customer's QBO twin and its date is the source's; among several, the
one with the source's amount. The amount alone does not refuse a match: the change that brings the
document to qbosync is often an edit of its lines. One such document is a match; none or several is
reported with a reason code, never guessed. A QBO document linked to another source record is never
a candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from qbosync.qbo.client import QboClient, qbo_literal
from qbosync.sync.configuration import QBO_DOC_NUMBER_LENGTH, NumberPrefix


class DocumentMatchOutcome(StrEnum):
    MATCHED = "matched"
    NO_MATCH = "no_match"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class DocumentQuery:
    """What identifies one source document in QBO."""

    qbo_entity: str
    number_field: str
    number: str
    prefix: NumberPrefix
    customer_id: str
    amount: Decimal
    txn_date: date

    def numbers(self) -> list[str]:
        """The number as qbosync writes it (prefixed once, cut to QBO's 21 characters from the left of
        the number), as the source has it, and without the configured prefix when it starts with it."""
        head, rest = "", self.number
        value = self.prefix.value
        if self.prefix.enabled and not rest.casefold().startswith(value.casefold()):
            head = value
        room = QBO_DOC_NUMBER_LENGTH - len(head)
        found = [head + rest[-room:], self.number[-QBO_DOC_NUMBER_LENGTH:]]
        if self.prefix.enabled and self.number.casefold().startswith(value.casefold()):
            found.append(self.number[len(value) :][-QBO_DOC_NUMBER_LENGTH:])
        return list(dict.fromkeys(number for number in found if number))


@dataclass(frozen=True)
class DocumentMatch:
    outcome: DocumentMatchOutcome
    record: dict[str, Any] | None
    candidates: int
    message: str


def _amount(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def same_document(row: Mapping[str, Any], query: DocumentQuery) -> bool:
    """True when ``row`` has the customer and date of the document ``query`` describes."""
    return (
        str((row.get("CustomerRef") or {}).get("value")) == query.customer_id
        and str(row.get("TxnDate")) == query.txn_date.isoformat()
    )


def find_existing_document(
    qbo: QboClient,
    query: DocumentQuery,
    linked_elsewhere: Callable[[str], object | None],
    count_read: Callable[[], None] = lambda: None,
) -> DocumentMatch:
    """The one QBO document ``query`` describes that no other source record is linked to (one read);
    ``linked_elsewhere`` names what holds a QBO document already (None: nothing does)."""
    literals = ", ".join(qbo_literal(number) for number in query.numbers())
    count_read()
    rows = qbo.query(
        f"SELECT * FROM {query.qbo_entity} WHERE {query.number_field} IN ({literals})"  # noqa: S608 - QBO query language, quoted
    )
    same = [row for row in rows if same_document(row, query)]
    free = [row for row in same if linked_elsewhere(str(row["Id"])) is None]
    same_amount = [row for row in free if _amount(row.get("TotalAmt")) == query.amount]
    if len(same_amount) == 1:
        free = same_amount
    label = f"QBO {query.qbo_entity} numbered {' or '.join(query.numbers())}"
    if len(free) == 1:
        return DocumentMatch(DocumentMatchOutcome.MATCHED, free[0], 1, f"{label} matched")
    if not free:
        taken = " (the only candidates are linked to other source records)" if same else ""
        return DocumentMatch(
            DocumentMatchOutcome.NO_MATCH,
            None,
            0,
            f"no {label} for this customer and date {query.txn_date}{taken}",
        )
    return DocumentMatch(
        DocumentMatchOutcome.AMBIGUOUS,
        None,
        len(free),
        f"{len(free)} {label} have this customer, amount and date; import the right link",
    )
