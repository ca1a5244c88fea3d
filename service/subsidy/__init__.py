"""以案定补: the monthly subsidy ledger for mediators (rules in workflows.subsidy)."""
