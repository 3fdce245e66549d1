"""One home for putting sync events back on their queues: the retry schedule, an admin's retry, the
release of events waiting for a mapping, and the release of payments parked on an invoice."""
