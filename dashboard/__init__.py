"""ledgerline dashboard."""
