"""The Rev.io billing adapter: Rev.io's REST API (``restapi.rev.io/v1``) behind the ``SourcePort``.

What each Rev.io field and endpoint used here rests on (an official page, public client code, or an
assumption) is listed in ``docs/revio.md``.
"""
