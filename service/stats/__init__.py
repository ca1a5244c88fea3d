"""Statistics: SQL aggregates, SVG charts and the monthly report (PRODUCT.md)."""
