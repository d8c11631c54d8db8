"""What the Event Grid trigger acts on.

These constants are also what the deployed event subscription filters on (infra tests compare the
two), so the filter and the code cannot drift apart.
"""

from __future__ import annotations

RESOURCE_WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
RESTORE_POINT_WRITE_OPERATION = "Microsoft.Compute/restorePointCollections/restorePoints/write"
