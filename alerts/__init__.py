"""ledgerline alerts."""
