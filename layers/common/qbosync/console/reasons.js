// What an event's reason code means and what to do about it. Events carry `reason_code` (the API's fixed
// list, see the README); a failed bulk page's reason is still `code` or `code:detail`, read with reasonCode.

const REASONS = {
  missing_mapping: "A source value has no mapping to QuickBooks. Add the mapping; failed events waiting on it are retried.",
  qbo_not_connected: "QuickBooks is not connected (or needs reconnecting). Reconnect on the Connection step, then retry.",
  qbo_closed_period: "QuickBooks refuses changes dated in a closed books period. Reopen the period or change the date, then retry.",
  qbo_deposited_transaction: "The payment is already deposited in QuickBooks and cannot be changed there.",
  qbo_duplicate_doc_number: "QuickBooks already has a document with this number. Change the prefix or the number, then retry.",
  qbo_reference_not_found: "Something the document refers to no longer exists in QuickBooks (deleted or inactive).",
  qbo_not_authorized: "The connected QuickBooks user may not do this. Connect with an admin (service) account.",
  qbo_rejected: "QuickBooks refused the document; its fault says why.",
  source_object_not_found: "The record is no longer in the source system.",
  source_rejected: "The source system refused qbosync's request.",
  drift: "The document was changed or deleted in QuickBooks after qbosync wrote it (drift policy: report).",
  drift_not_healable: "The document was voided in QuickBooks; a void cannot be taken back.",
  applied_invoice_removed: "The invoice this payment was applied to is gone from QuickBooks.",
  ambiguous: "A write's outcome was unknown; qbosync looks before writing again.",
  unsupported: "This kind of change is not synced.",
  waiting_for_invoice: "Parked: waits until the invoice reaches QuickBooks, then continues on its own.",
  retrying: "A passing failure; the queue is retrying it by itself.",
  stuck: "Its worker stopped before finishing (timeout or memory); the retry schedule re-queues it.",
  upstream_unavailable: "QuickBooks, the source or the store was unavailable for a while; it is retried.",
  not_applied: "A QuickBooks change qbosync could not apply (a missing setting or link); fix it and retry.",
  connection_expiring: "The QuickBooks grant is close to expiring; reconnect on the Connection step.",
  invoice: "Parked: waits until the invoice reaches QuickBooks, then continues on its own.",
  customer: "Parked: waits until the customer reaches QuickBooks.",
  item: "Parked: waits until the product reaches QuickBooks.",
};

export function reasonCode(reason) {
  if (!reason) return "";
  const code = String(reason).split(":")[0].trim();
  return /^[a-z_]+$/.test(code) ? code : "";
}

export function explainReason(reason) {
  return REASONS[reasonCode(reason)] || "";
}
