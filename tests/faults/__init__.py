"""Fault tests: kill -9 the API and the scheduler under load, restart PostgreSQL under load."""
