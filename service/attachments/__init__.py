"""Signed scans and other files kept on a case (issue 19): stored in the database as evidence."""
