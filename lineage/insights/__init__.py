"""Read-only insights for the dashboard: flows, systems, the posting-latency histogram and
money at risk. All SQL is in :mod:`lineage.insights.queries`, scope-bound and bounded."""
