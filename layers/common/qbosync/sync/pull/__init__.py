"""Pull (flow 5): QBO-side changes brought back to the source.

``notifications`` parses both QBO webhook formats into ``EntityChange``s; ``receiver`` verifies and
queues them within Intuit's 3-second budget; ``service`` applies one change to the source (customers,
items, payments, drift on synced documents) without echoing qbosync's own writes; ``worker`` runs an
SQS batch of them.
"""
