"""A person's own work and a unit's caseload by mediator (issue 18, parts 3 and 6)."""
