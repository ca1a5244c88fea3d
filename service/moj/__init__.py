"""The Ministry of Justice people's mediation report, counted from case events (docs/moj_report.md)."""
