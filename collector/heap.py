"""The process heap once a server has started: what was built to serve is kept out of the
cyclic garbage collector's walks.

A full collection walks every tracked object. After start that is the modules, the app, its
routes and models and the caches, some 150,000 objects, walked again and again while a request
that reads thousands of rows allocates: 6-10% of the close gate's every-entity status at p50 on
the bench store, a fifth of it at p95 (docs/benchmarks.md). ``gc.freeze`` moves them to a
generation no collection walks (reference counting still frees them as usual). The collector
settles it when it starts (the first one in a process), ``serve`` once all its parts have.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect what start-up left as garbage, then freeze the rest; the objects now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
