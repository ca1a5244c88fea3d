"""The auditor's view: the security log (sign-ins, tokens, reveals, role grants, exports) read,
filtered and exported by the auditors only — and every reading recorded in the log itself.
The log is written by ``service.audit``; the alerts to the auditors are ``service.audit.alerts``.
"""
