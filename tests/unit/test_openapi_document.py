"""The OpenAPI document says what the code accepts: same regions, same id and name rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from replication.ids import check_resource_group, check_subscription_id, parse_collection_id
from replication.regions import AZURE_REGIONS

DOC = json.loads((Path(__file__).resolve().parents[2] / "functions" / "openapi.json").read_text())
SCHEMAS = DOC["components"]["schemas"]


def test_regions_enum_is_the_code_list():
    assert set(SCHEMAS["Region"]["enum"]) == AZURE_REGIONS


@settings(max_examples=200)
@given(st.from_regex(SCHEMAS["CollectionId"]["pattern"], fullmatch=True))
def test_every_id_the_document_allows_the_code_accepts(value):
    parse_collection_id(value)


@settings(max_examples=200)
@given(
    st.from_regex(SCHEMAS["ResourceGroup"]["pattern"], fullmatch=True),
    st.from_regex(SCHEMAS["SubscriptionId"]["pattern"], fullmatch=True),
)
def test_every_group_and_subscription_the_document_allows_the_code_accepts(group, subscription):
    check_resource_group(group)
    check_subscription_id(subscription)


def test_patterns_compile():
    for name in ("CollectionId", "ResourceGroup", "SubscriptionId"):
        re.compile(SCHEMAS[name]["pattern"])
