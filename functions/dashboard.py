"""``GET /api/dashboard``: the protection report as one HTML page (same function-key auth, no CDN, no script).

Rendered on the server from the same report as ``GET /api/protection`` (``functions/protection.py``, with its
cache and read budget) and the sweep's status: a VM x region matrix coloured by RPO compliance, the copies in
flight with per-disk progress, failures and skipped copies with their reasons, the last sweep. It refreshes
itself every minute (``<meta http-equiv="refresh">`` keeps the URL, so ``?code=`` stays). Everything shown is
escaped (``html.escape``): names and reasons come from Azure.
"""

from __future__ import annotations

import asyncio
from html import escape
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from replication.settings import SettingsError

from . import protection
from .starter import status_dict
from .sweep import SWEEP_INSTANCE

bp = df.Blueprint()

COLOURS = {"protected": "#2e7d32", "at-risk": "#f9a825", "unprotected": "#c62828", "unknown": "#757575"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 8px} h2{font-size:17px;margin:24px 0 8px}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:6px 10px;text-align:left;font-size:14px}
td.cell{color:#fff;font-weight:600;min-width:140px}
.summary span{display:inline-block;margin-right:16px;font-size:15px}
.bar{background:#e0e0e0;width:160px;height:12px;display:inline-block;vertical-align:middle}
.bar i{display:block;height:12px;background:#1565c0}
.muted{color:#666}
"""


def _name(collection_id: str) -> str:
    return collection_id.rstrip("/").rsplit("/", 1)[-1]


def render(doc: dict[str, Any], sweep: dict[str, Any] | None) -> str:
    lanes = doc["lanes"]
    regions = sorted({lane["region"] for lane in lanes})
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for lane in lanes:
        rows.setdefault(lane["sourceCollectionId"], {})[lane["region"]] = lane
    s = doc["summary"]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='refresh' content='60'><title>Restore point protection</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Restore point protection</h1>",
        f"<p class='muted'>as of {escape(str(doc['asOf']))}; {doc.get('armReads', 0)} ARM reads"
        + ("" if doc.get("complete") else "; <b>incomplete</b>: some lanes could not be read (grey)")
        + "</p>",
        "<p class='summary' id='summary'>"
        f"<span>sources <b>{s['sources']}</b></span><span>protected <b>{s['protected']}</b></span>"
        f"<span>at risk <b>{s['atRisk']}</b></span><span>unprotected <b>{s['unprotected']}</b></span>"
        f"<span>unknown <b>{s['unknown']}</b></span></p>",
        "<h2>VM x region</h2><table id='matrix'><tr><th>source collection</th>",
    ]
    out += [f"<th>{escape(r)}</th>" for r in regions]
    out.append("</tr>")
    for source_id in sorted(rows, key=str.lower):
        out.append(f"<tr><th title='{escape(source_id)}'>{escape(_name(source_id))}</th>")
        for region in regions:
            lane = rows[source_id].get(region)
            if lane is None:
                out.append("<td></td>")
                continue
            age = lane.get("rpoHours")
            label = f"{lane['state']}" + (f" · {age:.1f} h" if age is not None else "")
            title = f"objective {lane.get('objectiveHours')} h; " + str(lane.get("reason") or "")
            if lane.get("diskBytesCopied") is not None:
                title += f"; disks copied {lane['diskBytesCopied'] / 1024**3:,.0f} GiB"
            out.append(
                f"<td class='cell' data-state='{escape(lane['state'])}' title='{escape(title)}' "
                f"style='background:{COLOURS.get(lane['state'], '#757575')}'>{escape(label)}</td>"
            )
        out.append("</tr>")
    out.append("</table>")
    out.append("<h2>Copies in flight</h2><table id='inflight'><tr><th>source</th><th>region</th><th>restore point</th>")
    out.append("<th>disks</th></tr>")
    if not any(lane.get("inFlight") for lane in lanes):
        out.append("<tr class='none'><td colspan='4' class='muted'>no copy in flight</td></tr>")
    for lane in lanes:
        for copy in lane.get("inFlight") or []:
            disks = "".join(
                f"<div>{escape(d['name'])} <span class='bar'><i style='width:{int(d['percent'] or 0)}%'></i></span> "
                f"{'' if d['percent'] is None else int(d['percent'])}%</div>"
                for d in copy.get("disks") or []
            )
            out.append(
                f"<tr><td>{escape(_name(lane['sourceCollectionId']))}</td><td>{escape(lane['region'])}</td>"
                f"<td>{escape(copy['name'])}</td><td>{disks or '<span class=muted>starting</span>'}</td></tr>"
            )
    out.append("</table><h2>Failures and skipped copies</h2><table id='failures'>")
    out.append("<tr><th>source</th><th>region</th><th>restore point</th><th>reason</th></tr>")
    for lane in lanes:
        problems: list[tuple[str, dict[str, Any]]] = [("failed", f) for f in lane.get("failures") or []] + [
            ("skipped", f) for f in lane.get("skipped") or []
        ]
        for kind, item in problems:
            out.append(
                f"<tr data-kind='{kind}'><td>{escape(_name(lane['sourceCollectionId']))}</td>"
                f"<td>{escape(lane['region'])}</td><td>{escape(item['name'])}</td>"
                f"<td>{escape(kind)}: {escape(item['reason'])}</td></tr>"
            )
    if not any(lane.get("failures") or lane.get("skipped") for lane in lanes):
        out.append("<tr class='none'><td colspan='4' class='muted'>no failed or skipped copy</td></tr>")
    out.append("</table><h2>Last sweep</h2><p id='sweep'>")
    if sweep is None:
        out.append("the sweep has not run yet")
    else:
        custom = sweep.get("customStatus") or {}
        stats = custom.get("stats") or {}
        out.append(
            f"{escape(sweep['runtimeStatus'])}, last updated {escape(str(sweep.get('lastUpdatedTime')))}; "
            + escape(", ".join(f"{k} {v}" for k, v in sorted(stats.items())))
        )
    out.append("</p></body></html>")
    return "".join(out)


@bp.route(route="dashboard", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def http_dashboard(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The dashboard page."""
    try:
        doc = await asyncio.to_thread(protection.evaluate)
    except SettingsError as error:
        return func.HttpResponse(f"the app is misconfigured: {escape(str(error))}", status_code=503)
    sweep = status_dict(await client.get_status(SWEEP_INSTANCE))
    return func.HttpResponse(
        render(doc, sweep),
        status_code=200,
        mimetype="text/html",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "no-store",
        },
    )
