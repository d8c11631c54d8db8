"""The dashboard page in headless Chromium (Debian's ``chromium``, driven by Playwright, no browser download)
against the app in devhost + emulator: the matrix is coloured by RPO compliance, and a screenshot shows it."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta

import pytest

from emulator import start_emulator
from functions import protection

from .conftest import Api, app_host, collection_id, make_policy, make_scenario

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
START = datetime.fromisoformat("2026-11-20T00:00:00+00:00")


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (requirements-dev.txt) is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def test_dashboard_matrix_is_coloured_by_rpo_compliance(browser, tmp_path, monkeypatch):
    scenario = make_scenario(vms=2, points=1)
    scenario["collections"][0]["restorePoints"][0]["timeCreated"] = START.isoformat().replace("+00:00", "Z")
    emu = start_emulator(scenario)
    monkeypatch.setattr(protection, "utc_now", emu.clock.now)
    protection.reset_cache()
    policy = make_policy(("westus2",))
    try:
        with app_host(emu, tmp_path / "h.db", {"REPLICATION_POLICY": json.dumps(policy)}) as host:
            api = Api(host)
            # vm0 is replicated (its restore point is recent: protected); vm1 never is (unprotected).
            assert api.start(sourceCollectionId=collection_id("vm0-rpc")).status_code == 202
            host.run_until_idle(timeout=240)
            assert emu.clock.now() < START + timedelta(hours=26)
            page = browser.new_page(viewport={"width": 900, "height": 600})
            response = page.goto(f"{host.url}/api/dashboard?code=devhost-function-key")
            assert response is not None and response.status == 200
            cells = {
                page.locator("#matrix tr").nth(i).locator("th").first.inner_text(): page.locator("#matrix tr")
                .nth(i)
                .locator("td.cell")
                .first.get_attribute("data-state")
                for i in range(1, page.locator("#matrix tr").count())
            }
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            box = page.locator("#matrix td.cell[data-state='protected']").bounding_box()
            red = page.locator("#matrix td.cell[data-state='unprotected']").bounding_box()
            unauthorised = page.request.get(f"{host.url}/api/dashboard")
    finally:
        emu.stop()
    assert cells == {"vm0-rpc": "protected", "vm1-rpc": "unprotected"}, cells
    assert unauthorised is not None and unauthorised.status == 401
    # The screenshot itself: the protected cell is green, the unprotected one red (COLOURS in functions/dashboard.py).
    import png

    _w, _h, rows, _info = png.Reader(filename=str(shot)).asRGBA8()
    pixels = [bytes(row) for row in rows]
    assert box is not None and red is not None

    def pixel(x: float, y: float) -> tuple[int, int, int]:
        row = pixels[int(y)]
        return row[4 * int(x)], row[4 * int(x) + 1], row[4 * int(x) + 2]

    green_px = pixel(box["x"] + 4, box["y"] + 4)
    red_px = pixel(red["x"] + 4, red["y"] + 4)
    assert green_px[1] > 100 and green_px[0] < 80, green_px
    assert red_px[0] > 150 and red_px[1] < 80, red_px
