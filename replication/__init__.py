"""Domain of restore point replication: ARM ids, planning, monitoring schedule, status, Azure access.

Nothing here imports ``azure.functions``: the Functions entry points in ``functions/`` and the
orchestrators in ``orchestrators/`` are thin shells over this package, so everything that decides
*what* to do can be tested directly, as pure functions over plain data.
"""
