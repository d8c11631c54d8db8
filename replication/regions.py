"""Azure region names accepted as copy targets.

A typo in a target region ('westus9') would otherwise surface only as an ARM error at copy time,
hours after the request was accepted; checking names up front turns it into a 400 naming the field.
The list covers the public cloud and the US Government and China sovereign clouds (Microsoft Learn,
"Azure geographies"); ARM's own ``GET /subscriptions/{id}/locations`` is the authority when a new
region appears, so update this list rather than weakening the check.
"""

from __future__ import annotations

AZURE_REGIONS: frozenset[str] = frozenset(
    """
    eastus eastus2 westus westus2 westus3 centralus northcentralus southcentralus westcentralus
    canadacentral canadaeast brazilsouth brazilsoutheast mexicocentral chilecentral
    northeurope westeurope uksouth ukwest francecentral francesouth germanywestcentral germanynorth
    switzerlandnorth switzerlandwest norwayeast norwaywest swedencentral swedensouth polandcentral
    italynorth spaincentral austriaeast belgiumcentral denmarkeast
    eastasia southeastasia japaneast japanwest koreacentral koreasouth
    australiaeast australiasoutheast australiacentral australiacentral2
    centralindia southindia westindia jioindiawest jioindiacentral
    uaenorth uaecentral qatarcentral israelcentral southafricanorth southafricawest
    newzealandnorth indonesiacentral malaysiawest
    usgovvirginia usgovarizona usgovtexas usdodeast usdodcentral
    chinanorth chinanorth2 chinanorth3 chinaeast chinaeast2 chinaeast3
    """.split()
)


def normalize_region(name: str) -> str:
    """ARM accepts 'West US 2' and 'westus2' alike; the product keeps the short lower-case form."""
    return name.replace(" ", "").lower()


def is_region(name: str) -> bool:
    return normalize_region(name) in AZURE_REGIONS
