"""ledgerline: business-transaction observability for finance integrations.

This package is the composition root (CLI, ``serve``, ``demo``) and hosts the client-side
hop instrumentation helper. Keep this module import-light: users import
``ledgerline.instrument`` in their adapters without pulling in servers.
"""

__version__ = "0.1.0"
