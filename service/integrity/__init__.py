"""Checking the audit trail end to end: every hash chain verified, old trails chained (operator commands)."""
