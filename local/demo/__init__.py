"""The narrated end-to-end demo (``make demo``): the whole service started locally and driven over HTTP."""
