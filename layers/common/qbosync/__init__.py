"""qbosync: keeps a billing or practice-management system in sync with QuickBooks Online."""
