"""`emtag report weekly` on a real simulated store: the first day and a half of the
`typical-week` example (Monday's curfew breach, home and work) run through the firmware,
the bridge and the store. The page opens in headless Chromium (the system's, through
Playwright, with every request but the page itself refused: offline) without errors, shows
the breach night and the frequent places, and its figures equal the analytics module's.
Bad input is a clear error and writes nothing; a week without data gives a page saying so."""

import os
import re
import shutil

import pytest

from emtag.centre import analytics, localtime
from emtag.cli.main import main as cli_main
from emtag.host import zonefile
from emtag.host.store import open_store

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
ZONES = os.path.join(EXAMPLES, "zones", "typical-week.geojson")
WEEK = "2026-W11"


@pytest.fixture(scope="module")
def week_store(tmp_path_factory):
    from emtag.simulator import scenario, simulate

    out = tmp_path_factory.mktemp("week")
    sc = scenario.load(os.path.join(EXAMPLES, "typical-week.toml"))
    sc.duration_s = 56 * 3600.0  # Monday, Tuesday and Wednesday morning: two curfew nights
    simulate.simulate(sc, str(out), "cpython")
    path = str(out / "store.sqlite")
    with open_store(path, create=False) as s:
        device = s.devices()[0].device
    return path, device


def test_the_weekly_page_in_chromium_shows_what_analytics_computes(week_store, tmp_path, capsys):
    if shutil.which("chromium") is None:
        pytest.skip("no Chromium: tools/setup.sh installs it")
    from playwright.sync_api import sync_playwright

    db, device = week_store
    out = tmp_path / "week.html"
    argv = ["report", "weekly", "--store", db, "--device", device[:6], "--week", WEEK,
            "-o", str(out), "--zones", ZONES]  # fmt: skip
    assert cli_main(argv) == 0, capsys.readouterr().err
    html = out.read_text()
    assert "<link" not in html and 'src="http' not in html  # nothing fetched but the tiles
    with open_store(db, create=False) as s:
        zones = list(zonefile.load(ZONES))
        t0 = localtime.day_start(localtime.iso_week(WEEK)[0], zones[1].tz)
        ov = analytics.overview(s, device, t0, t0 + 7 * 86400, zones)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
                   else r.abort())  # fmt: skip
        page.goto("file://%s" % out)
        page.wait_for_selector("body[data-ready]", timeout=30000)
        page.wait_for_timeout(500)
        assert errors == [] and page.inner_text("#errors").strip() == ""
        assert "Street map not available" in page.inner_text("#basemap-note")  # offline
        curfew = [[c.strip() for c in r.split("\t")] for r in
                  page.inner_text("table.curfew tbody").strip().split("\n")]  # fmt: skip
        places = page.inner_text("table.places tbody")
        alerts = page.inner_text("table.alerts tbody")
        n_markers = page.eval_on_selector_all(".alert-icon", "els => els.length")
        n_hex = int(page.get_attribute("#heat", "data-cells"))
        browser.close()
    # the breach night, as analytics has it, and every other night kept
    assert [n.verdict for n in ov.nights] == ["breach", "kept"] + ["no data"] * 5
    monday = ov.nights[0]
    assert curfew[0][0] == "Mon 09 Mar" and curfew[0][-1] == "BREACH"
    assert curfew[0][3] == "%.1f" % (monday.alert_breach_s / 60) and monday.alert_breach_s > 1800
    assert curfew[0][4] == "%.1f" % (monday.outside_s / 60)
    assert curfew[1][-1] == "kept" and curfew[2][-1] == "no data"
    # the frequent places: home (the approved address) and work, with analytics' hours
    labels = [p.label for p in ov.places]
    assert labels[:2] == ["home", "work"]
    for p in ov.places:
        assert re.search(r"\b%s\b.*\b%.1f\b" % (p.label, p.dwell_s / 3600), places)
    assert "curfew_breach" in alerts and "curfew_clear" in alerts
    assert len(alerts.strip().split("\n")) == len(ov.alerts)
    assert n_markers == sum(1 for a in ov.alerts if a.lat_e7 is not None)
    assert n_hex == len(ov.heat_week)


def test_pdf(week_store, tmp_path):
    if shutil.which("chromium") is None:
        pytest.skip("no Chromium: tools/setup.sh installs it")
    db, device = week_store
    argv = ["report", "weekly", "--store", db, "--device", device, "--week", WEEK, "--tiles",
            "none", "-o", str(tmp_path / "w.html"), "--pdf", str(tmp_path / "w.pdf")]  # fmt: skip
    assert cli_main(argv) == 0
    data = (tmp_path / "w.pdf").read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20000


def test_a_week_without_data_says_so(week_store, tmp_path, capsys):
    db, device = week_store
    out = tmp_path / "empty.html"
    assert cli_main(["report", "weekly", "--store", db, "--device", device, "--week",
                     "2026-W20", "-o", str(out)]) == 0  # fmt: skip
    text = out.read_text()
    assert "No data for this week" in text and "link down" in text
    assert "no data" in capsys.readouterr().out


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--device": "0000"}, "not in"),
        ({"--week": "2026-48"}, "YYYY-Www"),
        ({"--week": "2026-W54"}, "week"),
        ({"--store": "OTHER"}, "not an emtag store"),
        ({"--store": "MISSING"}, "no store at"),
        ({"--tiles": "ftp://x"}, "--tiles"),
        ({"--zones": "MISSING"}, "cannot read zones"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(week_store, tmp_path, capsys, change, message):
    import sqlite3

    db, device = week_store
    other = tmp_path / "other.sqlite"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t(x)")
    c.commit()
    c.close()
    args = {"--store": db, "--device": device, "--week": WEEK, "-o": str(tmp_path / "r.html")}
    args.update(change)
    args = {k: {"OTHER": str(other), "MISSING": str(tmp_path / "nope")}.get(v, v)
            for k, v in args.items()}  # fmt: skip
    before = other.read_bytes()
    assert cli_main(["report", "weekly"] + [x for kv in args.items() for x in kv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists() and other.read_bytes() == before
