"""What calls cost: balance, points history and its disk cache, the session ledger and budget, spending tables and plots. May import: catalog, core, wire, base."""
