"""The SQL of lineage's lookups, listings and transaction facts (every value bound)."""
