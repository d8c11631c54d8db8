"""``sourceMetadata`` of source restore points, shaped like the REST spec examples.

It deliberately carries what Azure carries, ``osProfile`` secrets references, ``customData`` and
``userData`` included: scrubbing them is the product's job, not the emulator's.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

PLATFORM_KEY = {"type": "EncryptionAtRestWithPlatformKey"}


def disk_restore_point_id(rp_id: str, disk_name: str, seed: str) -> str:
    suffix = uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}/{disk_name}")
    return f"{rp_id}/diskRestorePoints/{disk_name}_{suffix}"


def vm_id(subscription: str, resource_group: str, vm_name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
        f"Microsoft.Compute/virtualMachines/{vm_name}"
    )


def build_source_metadata(
    vm: dict[str, Any], subscription: str, resource_group: str, location: str, rp_id: str
) -> dict[str, Any]:
    """The metadata a VM restore point records about its VM at creation time."""
    os_type = vm.get("osType", "Linux")
    disks = vm.get("disks") or [{"name": f"{vm['name']}-os", "sizeGB": 30}]
    storage_type = vm.get("storageAccountType", "Premium_LRS")

    def disk_entry(disk: dict[str, Any], is_os: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        if is_os:
            entry["osType"] = os_type
        else:
            entry["lun"] = disk.get("lun", 0)
        entry["name"] = disk["name"]
        entry["caching"] = disk.get("caching", "ReadWrite" if is_os else "None")
        entry["diskSizeGB"] = disk["sizeGB"]
        entry["managedDisk"] = {
            "storageAccountType": disk.get("storageAccountType", storage_type),
            "id": f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.Compute/disks/{disk['name']}",
        }
        entry["diskRestorePoint"] = {
            "encryption": dict(PLATFORM_KEY),
            "id": disk_restore_point_id(rp_id, disk["name"], rp_id.lower()),
        }
        return entry

    os_profile: dict[str, Any] = {
        "computerName": vm.get("computerName", vm["name"]),
        "adminUsername": vm.get("adminUsername", "azureuser"),
        "secrets": [
            {
                "sourceVault": {
                    "id": f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
                    f"Microsoft.KeyVault/vaults/kv-{vm['name']}"
                },
                "vaultCertificates": [
                    {"certificateUrl": f"https://kv-{vm['name']}.vault.azure.net/secrets/cert/0123456789abcdef"}
                ],
            }
        ],
        "customData": "I2Nsb3VkLWNvbmZpZwpwYXNzd29yZDogaHVudGVyMgo=",
        "allowExtensionOperations": True,
        "requireGuestProvisionSignal": True,
    }
    if os_type == "Windows":
        os_profile["windowsConfiguration"] = {"provisionVMAgent": True, "enableAutomaticUpdates": True}
    else:
        os_profile["linuxConfiguration"] = {"disablePasswordAuthentication": True, "provisionVMAgent": True}
    return {
        "vmId": vm.get("vmId") or str(uuid.uuid5(uuid.NAMESPACE_URL, vm_id(subscription, resource_group, vm["name"]))),
        "hardwareProfile": {"vmSize": vm.get("vmSize", "Standard_D2s_v5")},
        "storageProfile": {
            "osDisk": disk_entry(disks[0], True),
            "dataDisks": [disk_entry(d, False) for d in disks[1:]],
            "diskControllerType": vm.get("diskControllerType", "SCSI"),
        },
        "osProfile": os_profile,
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
        "location": location,
        "userData": vm.get("userData", "c2FtcGxlIHVzZXJEYXRh"),
    }


def disk_entries(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    storage = metadata.get("storageProfile", {})
    return [storage["osDisk"], *storage.get("dataDisks", [])]


def copy_metadata_for_target(metadata: dict[str, Any], target_rp_id: str) -> dict[str, Any]:
    """The copy keeps the source's metadata, with disk restore points of its own that name their source.

    Recorded (azure-cli test_copy_vm_restore_point.yaml 2023-10, azure-sdk-for-net 2023-04): a copy's
    ``diskRestorePoint`` is ``{"sourceDiskRestorePoint": {"id": <source disk restore point>}, "encryption":
    {"type": "EncryptionAtRestWithPlatformKey"}, "id": <its own>}``; a source's has ``encryption`` and ``id``.
    """
    result = copy.deepcopy(metadata)
    for disk in disk_entries(result):
        source_disk_id = (disk.get("diskRestorePoint") or {}).get("id")
        entry: dict[str, Any] = {}
        if source_disk_id:
            entry["sourceDiskRestorePoint"] = {"id": source_disk_id}
        entry["encryption"] = dict(PLATFORM_KEY)  # CMK sources arrive platform-key encrypted (Learn)
        entry["id"] = disk_restore_point_id(target_rp_id, disk["name"], target_rp_id.lower())
        disk["diskRestorePoint"] = entry
    return result


def without_disk_restore_points(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata as shown while the restore point is ``Creating``: no disk restore points yet.

    Recorded: every 201 body of a restore point PUT (azure-cli 2022-06 and 2023-10, azure-sdk-for-net 2021-12
    and 2023-04), source or copy, lists the disks without ``diskRestorePoint``; later GETs have them.
    """
    result = copy.deepcopy(metadata)
    for disk in disk_entries(result):
        disk.pop("diskRestorePoint", None)
    return result
