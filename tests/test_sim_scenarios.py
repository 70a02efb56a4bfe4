"""Scenarios as acceptance tests: the hardware examples, the power comparison with the 1 Hz
baseline, byte-identical replays, fleets, the command line and the HTML report (rendered
in headless Chromium)."""

import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

import pytest

from emtag.cli import main as cli
from emtag.host import unixport
from emtag.simulator import fleet, scenario, simulate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")

# example -> simulated seconds the test runs (None: all of it)
HARDWARE_EXAMPLES = {
    "strap-cut.toml": None,  # strap_tamper stamped within 5 s, stored within 3 min
    "foil-shielding.toml": None,  # shielding_suspected (not jamming), then no_fix
    "gnss-jamming.toml": None,  # jamming_suspected (not shielding)
    "battery-rundown.toml": None,  # battery_low, battery_critical, charging started/stopped
    # the power reference, its first day: Monday's curfew breach, no exclusion breach,
    # days per charge (the full week, with its baseline, is the README's figure)
    "typical-week.toml": 86400,
}


def run(name, out, seconds=None, seed=None, quiet=False, **hw):
    sc = scenario.load(os.path.join(EXAMPLES, name))
    if seconds:
        sc.duration_s = seconds
    if seed is not None:
        sc.seed = seed
    if quiet:  # no timeline events: the route alone
        sc.hardware.events = []
        sc.expect = []
    for k, v in hw.items():
        setattr(sc.hardware, k, v)
    if hw.get("always_on_gnss"):
        sc.hardware.config["gnss_always_on"] = 1
    return simulate.simulate(sc, str(out), "cpython")


@pytest.mark.parametrize("name", sorted(HARDWARE_EXAMPLES))
def test_hardware_example(name, tmp_path):
    result = run(name, tmp_path, HARDWARE_EXAMPLES[name])
    assert result["checks"] and all(c["ok"] for c in result["checks"]), result["checks"]
    assert result["stored_failed"] == 0 and result["rejected"] == 0
    assert os.path.getsize(tmp_path / "report.html") > 10000


def test_adaptive_duty_cycling_against_the_1hz_baseline(tmp_path):
    """The same hour of walking round the park under the same power profile."""
    a = run("gnss-jamming.toml", tmp_path / "a", 3600, quiet=True)
    b = run("gnss-jamming.toml", tmp_path / "b", 3600, quiet=True, always_on_gnss=True)
    ha, hb = a["hardware"], b["hardware"]
    assert hb["gnss_on_share"] > 0.99 and ha["gnss_on_share"] < 0.4
    assert hb["gnss_starts"]["hot"] == 0 and ha["gnss_starts"]["hot"] > 20
    assert ha["avg_ma"] < hb["avg_ma"] / 2.5
    assert ha["days_per_charge"] > 2.5 * hb["days_per_charge"]
    # the baseline's GNSS dominates: about the receiver's tracking current all the time
    assert 28 < hb["avg_ma"] < 34
    # and the adaptive tag still logs its fix a minute
    assert a["fix_records"] >= 55 and b["fix_records"] >= 55


def test_same_scenario_and_seed_give_a_byte_identical_event_log(tmp_path):
    for d in ("a", "b", "c"):
        run("foil-shielding.toml", tmp_path / d, 1500, seed=5 if d != "c" else 6)
    a, b, c = ((tmp_path / d / "events.jsonl").read_bytes() for d in "abc")
    assert a == b
    assert a != c  # another seed: another tag, other noise
    kinds = {json.loads(line)["type"] for line in a.splitlines()}
    # the log covers the hardware, not just the firmware
    assert {"foil_on", "battery", "truth", "alert", "fix", "checkpoint"} <= kinds


def test_rtc_drift_and_a_lossy_gnss_uart_do_not_break_the_evidence(tmp_path):
    sc = scenario.load(os.path.join(EXAMPLES, "strap-cut.toml"))
    sc.hardware.drift_ppm = 200.0  # a poor crystal: 17 s a day
    sc.hardware.rtc_offset_ms = -90000  # and the clock 90 s slow at boot
    sc.hardware.uart_corrupt = 0.0005
    result = simulate.simulate(sc, str(tmp_path), "cpython")
    assert all(c["ok"] for c in result["checks"]), result["checks"]
    assert result["hardware"]["uart_errors"] > 0
    evs = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    stats = next(e for e in evs if e["type"] == "shutdown")
    # a flipped bit in 1 byte of 2,000 spoils about 1 sentence (~70 bytes) of 30
    bad = stats["nmea_bad_checksum"]
    assert 0.01 < bad / (bad + stats["nmea_good"]) < 0.08


def test_a_lossy_jittery_link_with_an_outage_still_delivers_in_order(tmp_path):
    sc_path = tmp_path / "lossy.toml"
    sc_path.write_text(
        'name = "lossy"\nseed = 11\nstart = "2026-03-02T09:00:00Z"\nduration_s = 2400\n'
        'route = "%s"\n[link]\nlatency_ms = 300\nloss = 0.2\ncorrupt = 0.1\n'
        'jitter_ms = 2000\n[[event]]\nat_s = 300\ntype = "link_outage"\n'
        "duration_s = 600\n" % os.path.join(EXAMPLES, "routes", "park-loop.geojson")
    )
    sc = scenario.load(str(sc_path))
    assert sc.link_outages == [(300000, 900000)]
    r = simulate.simulate(sc, str(tmp_path / "out"), "cpython")
    hw = r["hardware"]
    assert hw["link_lost"] >= 1 and hw["link_lost"] + hw["link_corrupted"] >= 3
    assert r["stored_failed"] == 0 and r["rejected"] == 0
    assert r["stored_verified"] >= r["fix_records"] - 12  # all but the last minutes' tail
    evs = [json.loads(x) for x in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert [e["type"] for e in evs if e["type"] in ("link_down", "link_up")] == [
        "link_down",
        "link_up",
    ]


def test_a_fleet_runs_in_parallel_processes(tmp_path):
    path = os.path.join(EXAMPLES, "strap-cut.toml")
    results = fleet.fleet(path, 3, str(tmp_path), "cpython", jobs=2)
    assert [r["seed"] for r in results] == [31, 32, 33]
    assert len({r["device"] for r in results}) == 3  # three tags, three keys
    for i, r in enumerate(results):
        assert all(c["ok"] for c in r["checks"]), r["checks"]
        assert (tmp_path / ("tag-%03d" % (i + 1)) / "events.jsonl").exists()
    table = fleet.fleet_table(results)
    assert "strap_tamper" in table and "3/3" in table


def test_the_command_line_runs_a_fleet_and_a_baseline(tmp_path, capsys):
    path = os.path.join(EXAMPLES, "gnss-jamming.toml")
    out = str(tmp_path / "fleet")
    assert cli.main(["sim", path, "--tags", "2", "--out", out, "--interpreter", "cpython"]) == 0
    text = capsys.readouterr().out
    assert "tag 002" in text and "2 tags, 0 checks failed" in text
    out = str(tmp_path / "pair")
    code = cli.main(
        [
            "sim",
            os.path.join(EXAMPLES, "strap-cut.toml"),
            "--baseline",
            "--out",
            out,
            "--interpreter",
            "cpython",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "1 Hz always on" in text and "adaptive duty cycling" in text
    assert os.path.exists(os.path.join(out, "baseline-1hz", "events.jsonl"))
    assert cli.main(["sim", path, "--tags", "0", "--interpreter", "cpython"]) == 2


def test_a_firmware_that_stops_the_clock_is_caught_not_hung(tmp_path, monkeypatch):
    from emtag.firmware import monitor
    from emtag.simulator import hardware

    monkeypatch.setattr(monitor.Monitor, "deadline", lambda self, d: self.board.now_ms())
    monkeypatch.setattr(hardware, "STUCK_WAKES", 2000)
    with pytest.raises(hardware.FirmwareStuck, match="without the clock moving"):
        run("strap-cut.toml", tmp_path, 600)


def test_a_bad_timeline_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\nstart = "2026-03-02T09:00:00Z"\nduration_s = 60\n'
        'route = "%s"\n[[event]]\nat_s = 5\ntype = "strap_snip"\n'
        % os.path.join(EXAMPLES, "routes", "park-loop.geojson")
    )
    assert cli.main(["sim", str(bad), "--interpreter", "cpython"]) == 2
    err = capsys.readouterr().err
    assert "strap_snip" in err and "strap_cut" in err


# the report in a real browser


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browse(url, *args):
    profile = tempfile.mkdtemp(prefix="emtag-chromium-")
    try:
        cmd = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--user-data-dir=" + profile,
            *args,
            url,
        ]
        return subprocess.run(cmd, capture_output=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def png_sample(data, step=4):
    """(width, height, every step-th row of every step-th RGB pixel) of an 8-bit RGB/RGBA
    PNG, as Chromium writes them; decoded here, so the test needs no imaging library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    i, idat = 8, b""
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i : i + 8])
        body = data[i + 8 : i + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            idat += body
        i += 12 + n
    bpp = 4 if color == 6 else 3
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if f == 1:  # Sub
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif f == 2:  # Up
            line = bytearray((p + q) & 255 for p, q in zip(line, prev, strict=True))
        elif f == 3:  # Average
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif f == 4:  # Paeth
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % step == 0:
            rows.append([tuple(line[k : k + 3]) for k in range(0, stride, bpp * step)])
        prev = line
    return w, h, rows


def test_the_report_renders_in_headless_chromium(tmp_path):
    if chromium() is None:
        pytest.skip("no Chromium: tools/setup.sh installs it (apt-get install chromium, as root)")
    result = run("foil-shielding.toml", tmp_path)
    page = "file://" + result["report"]
    html = open(result["report"], encoding="utf-8").read()
    assert "http://" not in html and "https://" not in html and "<link" not in html
    dom = browse(page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout.decode()
    assert 'data-ready="1"' in text, "the page's script did not run to its end"
    assert '<p id="errors"></p>' in text, "script errors: " + text[text.find('id="errors"') :][:300]
    assert "shielding_suspected" in text and "Battery" in text
    # its own symbol on the map and in the table, with a severity (simulator/report_alerts.py)
    assert 'data-kind="shielding_suspected"' in text and "(warning)" in text
    # and the check does catch an error: the same page with a broken script
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace("</body>", "<script>noSuchFunction();</script></body>"))
    text = browse("file://%s" % broken, "--dump-dom").stdout.decode()
    assert "Script error" in text and "noSuchFunction" in text
    shot = tmp_path / "shot.png"
    r = browse(page, "--screenshot=%s" % shot, "--window-size=1200,900", "--hide-scrollbars")
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    w, h, rows = png_sample(shot.read_bytes())
    assert (w, h) == (1200, 900)
    pixels = [px for row in rows for px in row]
    counts = {}
    for px in pixels:
        counts[px] = counts.get(px, 0) + 1
    assert len(counts) > 50  # text, tables, a header: not a blank page
    assert len(pixels) - max(counts.values()) > 0.1 * len(pixels)  # not one colour


@pytest.mark.skipif(unixport.binary() is None, reason="no MicroPython unix port")
@pytest.mark.parametrize("name", ["strap-cut.toml", "foil-shielding.toml"])
def test_hardware_alerts_on_micropython_at_the_tags_heap(name, tmp_path):
    """The firmware as a board loads it (.mpy) in the tag's 192 KiB heap: the sensors,
    the alerts and the GNSS duty cycling run there as on CPython."""
    sc = scenario.load(os.path.join(EXAMPLES, name))
    runs = 2 if name == "strap-cut.toml" else 1  # and byte-identical there too
    with unixport.staged_from_mpy():
        for i in range(runs):
            r = simulate.simulate(sc, str(tmp_path / str(i)), "micropython")
    assert r["checks"] and all(c["ok"] for c in r["checks"]), r["checks"]
    assert r["heap_peak"] <= 192 * 1024
    assert r["hardware"]["gnss_on_share"] < 0.5  # duty-cycled there too
    if runs == 2:
        a, b = ((tmp_path / str(i) / "events.jsonl").read_bytes() for i in range(2))
        assert a == b


def test_the_example_routes_are_what_their_generator_writes(tmp_path):
    from emtag.tools import example_routes

    (tmp_path / "routes").mkdir()
    (tmp_path / "zones").mkdir()
    example_routes.main([str(tmp_path)])
    for sub in ("routes", "zones"):
        for f in os.listdir(tmp_path / sub):
            assert (tmp_path / sub / f).read_bytes() == open(
                os.path.join(EXAMPLES, sub, f), "rb"
            ).read(), f
