"""What the flows share: record bodies, names and their policy, links, field ownership, queue messages.

``push``, ``pull``, ``bulk``, ``reconcile`` and ``retry`` import from here (and from the support modules
``configuration``, ``reference``), never from each other; ``tests/unit/test_sync_import_rules.py``
keeps it so.
"""
