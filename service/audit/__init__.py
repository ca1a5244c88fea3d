"""The audit trail's security events: appended to their own hash chain (``events``), stored in
``models``, purged after their retention period and re-anchored (``retention``). The case events'
links are computed by ``workflows.chain``; checking every chain end to end is ``service.integrity``.
Personal data itself (sealing, masking, reveal, PIPL) is ``service.personal`` and ``service.privacy``.
"""
