"""The QuickBooks Online boundary: the only place qbosync talks HTTP to Intuit.

Import what you need from its modules: ``client`` (QboClient), ``faults``, ``oauth``, ``governor``,
``metadata``.
"""
