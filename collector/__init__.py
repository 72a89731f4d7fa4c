"""ledgerline collector: OTLP receiver and the ClickHouse store API.

Integration hops send OpenTelemetry spans; the collector validates them, writes them
in group commits to ``otel_traces`` and acknowledges only what is stored. ClickHouse
materialized views derive business hops and entity edges from the raw spans.

``lineage`` and ``alerts`` use :class:`collector.store.Store`; nothing here imports them.
"""
