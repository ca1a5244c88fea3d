"""Statistics: SQL aggregates, SVG charts and the monthly report (docs/domain.md, Statistics)."""
