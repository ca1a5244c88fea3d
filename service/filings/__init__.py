"""Frozen monthly filings (报表报送) and the court reconciliation view: docs/filings.md."""
