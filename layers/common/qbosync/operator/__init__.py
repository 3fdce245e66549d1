"""Operator actions on a deployed stack: ``python -m qbosync.operator --help``.

They run on an operator's machine with the operator's own AWS credentials (IAM decides who may), never
through the tenant admin API and its JWTs. The library lives here, next to the repositories it drives, so it
is typed, linted and tested with them; no handler imports it.
"""
