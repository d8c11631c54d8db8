"""ARM resource ids: building, parsing and case-insensitive keys.

ARM matches ids case-insensitively, so the emulator keys everything by the lower-cased id and keeps
the casing the resource was created with for display.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVIDER = "Microsoft.Compute"
COLLECTIONS = "restorePointCollections"


def collection_id(subscription: str, resource_group: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{PROVIDER}/{COLLECTIONS}/{name}"


def restore_point_id(collection: str, name: str) -> str:
    return f"{collection}/restorePoints/{name}"


def key(resource_id: str) -> str:
    """The case-insensitive identity of a resource id (also tolerates a missing leading slash)."""
    return "/" + resource_id.strip("/").lower()


@dataclass(frozen=True)
class ParsedId:
    subscription: str
    resource_group: str
    collection: str
    restore_point: str | None = None

    @property
    def collection_key(self) -> str:
        return key(collection_id(self.subscription, self.resource_group, self.collection))


def parse(resource_id: str) -> ParsedId | None:
    """Parse a restore point collection or restore point id; None if it is neither."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if len(parts) not in (8, 10):
        return None
    if (
        lowered[0] != "subscriptions"
        or lowered[2] != "resourcegroups"
        or lowered[4] != "providers"
        or lowered[5] != PROVIDER.lower()
        or lowered[6] != COLLECTIONS.lower()
    ):
        return None
    if len(parts) == 10 and lowered[8] != "restorepoints":
        return None
    return ParsedId(parts[1], parts[3], parts[7], parts[9] if len(parts) == 10 else None)
