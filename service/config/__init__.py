"""Configuration: the JIEFEN_ settings and the files under ``config/``, read and validated.

Every module here only reads and checks (``loading`` reports every problem as one ``ConfigError``,
naming file and key); nothing here touches the database or imports a domain package.
"""
