"""A unit's inbox, read through the API and the web pages (the items are written by service.notifications)."""
