"""Push (flow 4): source webhooks for products, invoices, payments and credit notes, applied to QBO once.

``receiver`` verifies a webhook and queues it; ``service`` applies one queued change (re-reading the
source, ensuring customer and items, transforming, writing with a deterministic requestid, recording
the link); ``worker`` runs a batch of them with Powertools' FIFO batch processor and idempotency;
``replay`` re-queues parked and failed events.
"""
