"""The business core of lineage: flows, verdicts, domain definitions, scope, time, lookups."""
