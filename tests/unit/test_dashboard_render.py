"""The dashboard's HTML: in-flight copies with a bar per disk, failures with reasons, everything escaped."""

from __future__ import annotations

from functions.dashboard import render

SRC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/vm0-rpc"


def test_in_flight_failures_and_escaping():
    lane = {
        "sourceCollectionId": SRC,
        "region": "westus2",
        "state": "at-risk",
        "rpoHours": 30.0,
        "objectiveHours": 26.0,
        "inFlight": [{"name": "rp1", "disks": [{"name": "os", "percent": 40}, {"name": "data", "percent": None}]}],
        "failures": [{"name": "rp0", "reason": "<script>alert(1)</script>"}],
        "skipped": [{"name": "rpX", "reason": "a newer restore point was copied first"}],
    }
    doc = {
        "asOf": "2026-11-20T00:00:00Z",
        "summary": {"sources": 1, "protected": 0, "atRisk": 1, "unprotected": 0, "unknown": 0},
        "lanes": [lane],
        "complete": True,
        "armReads": 3,
    }
    page = render(
        doc, {"runtimeStatus": "Completed", "lastUpdatedTime": "t", "customStatus": {"stats": {"started": 2}}}
    )
    assert "data-state='at-risk'" in page and "#f9a825" in page and "at-risk · 30.0 h" in page
    assert "width:40%" in page and "os" in page and "starting" not in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "data-kind='failed'" in page and "data-kind='skipped'" in page
    assert "Completed" in page and "started 2" in page
    assert "<script" not in page.lower()  # no script at all: the CSP forbids it too
    assert "no copy in flight" not in page and "no failed or skipped copy" not in page


def test_empty_tables_say_so():
    summary = {"sources": 0, "protected": 0, "atRisk": 0, "unprotected": 0, "unknown": 0}
    doc = {"asOf": "t", "summary": summary, "lanes": [], "complete": True, "armReads": 0}
    page = render(doc, None)
    assert "no copy in flight" in page and "no failed or skipped copy" in page
    assert "the sweep has not run yet" in page
