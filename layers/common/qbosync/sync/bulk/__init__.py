"""Initial bulk sync (flow 3): customers and products both ways, in pages, through the QBO batch API.

The Step Functions state machine (``statemachines/bulk_sync.asl.json``) drives one task function whose
service functions live here: ``tasks`` (one per state), ``customers`` and ``products`` (one page each),
``qbo_to_source`` (QBO records nobody links yet) and ``service`` (start a run, read its progress).
"""
