"""The integration-estate simulator: seeded support_credit transactions with faults, over OTLP.

Scenario generation (:mod:`.scenario`) is pure and seeded; emission (:mod:`.emit`) uses
the OpenTelemetry SDK with one TracerProvider per system; :func:`run_simulation` runs a
backfill and then live traffic; :mod:`.cli` adds ``ledgerline simulate``.
"""

from ledgerline.simulator.config import DEFAULT_FAULT_RATES, FAULT_KINDS, SimConfig
from ledgerline.simulator.runner import Summary, run_simulation

__all__ = ["DEFAULT_FAULT_RATES", "FAULT_KINDS", "SimConfig", "Summary", "run_simulation"]
