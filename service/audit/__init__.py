"""The audit trail: hash-chained case events and security events, and the tools that keep it.

``chain`` computes the links; ``events`` appends a security event to its chain; ``verify``
recomputes every link (``jiefen audit verify``); ``backfill`` chains events written before tamper
evidence existed; ``retention`` purges old security events and re-anchors their chain. Personal
data itself (sealing, masking, reveal, PIPL) is ``service.privacy``.
"""
