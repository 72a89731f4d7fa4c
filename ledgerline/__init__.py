"""ledgerline ledgerline."""
