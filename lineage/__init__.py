"""ledgerline lineage."""
