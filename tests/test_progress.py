"""Progress of long jobs on stderr (simulator/progress.py): a redrawn line on a terminal,
plain lines otherwise; from parallel simulator runs (fleet, baseline) and the alert
benchmark."""

import io
import os

from emtag.simulator import alertbench, fleet, progress

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_without_a_terminal_a_line_per_tenth_of_a_long_job():
    out = io.StringIO()
    bar = progress.Bar(out, "emtag bench sim", long_job=True)
    for i in range(101):
        bar.show(i / 100, "%d of 100" % i)
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in out.getvalue()
    assert lines[0].startswith("emtag bench sim: 10% (10 of 100, ")
    assert lines[-1].startswith("emtag bench sim: 100% (100 of 100, ")


def test_a_short_job_stays_quiet_off_a_terminal(monkeypatch):
    out = io.StringIO()
    bar = progress.Bar(out, "x")
    for i in range(11):
        bar.show(i / 10)
    assert out.getvalue() == ""
    monkeypatch.setattr(progress, "LINES_AFTER_S", 0.0)  # ...until it has run a while
    bar = progress.Bar(out, "x")
    bar.show(0.55, "half")
    assert out.getvalue().startswith("x: 50% (half, ")


def test_on_a_terminal_one_line_redrawn_and_cleared():
    out = Tty()
    bar = progress.RunsBar(out, "emtag sim", ["adaptive", "baseline"])
    bar.update([0.5, 0.25])
    text = out.getvalue()
    assert text.startswith("\r\033[K[") and " 37%  adaptive 50%, baseline 25%" in text
    assert "\n" not in text
    bar.update([1.0, 1.0])
    assert out.getvalue().endswith("\r\033[K")  # done: the line is cleared


def test_parallel_runs_report_their_share_from_the_worker(tmp_path):
    shared = [0.0, 0.0]
    fleet._init(shared)
    try:
        path = os.path.join(EXAMPLES, "strap-cut.toml")
        r = fleet._run((path, 31, str(tmp_path / "a"), "cpython", {}, 1))
    finally:
        fleet._init(None)
    assert r["device"] and shared[0] == 0.0 and 0.95 <= shared[1] <= 1.0
    seen = []
    results = fleet.fleet(path, 2, str(tmp_path / "f"), "cpython", jobs=2, on_progress=seen.append)
    assert len(results) == 2 and seen and seen[-1] == [1.0, 1.0]
    assert all(len(s) == 2 and all(0.0 <= f <= 1.0 for f in s) for s in seen)


def test_the_alert_benchmark_reports_as_shares_finish():
    calls = []
    s = alertbench.benchmark(days=4, seed=3, workers=2, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(2, 4), (4, 4)]
    # the shares change nothing in the figures
    same = alertbench.summarise(alertbench.run_days(range(4), 3), 4, 3)
    s.pop("wall_s")
    assert s["emtag"] == same["emtag"] and s["naive"] == same["naive"]
    assert s["fixes"] == same["fixes"]
