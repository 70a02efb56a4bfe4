"""emtag bench centre at a tiny scale, so the benchmark cannot rot: every figure is
reported and the queries answer from what was written (the figures themselves are the
benchmark's, not a test's)."""

from emtag.cli.main import main


def test_a_tiny_centre_bench_writes_through_the_store_and_queries_it(capsys):
    code = main(["bench", "centre", "--tags", "4", "--year-fixes", "90000", "--queries", "3",
                 "--backend", "sqlite"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    rows = {}
    for line in out.splitlines():
        head, _, value = line.rpartition(" ")
        if head.strip() and value.replace(".", "").isdigit():
            rows[head.strip()] = float(value)
    # a month of the year tag at a fix a minute: days 31-61 (30 days + the closing minute)
    assert rows["month fixes"] == 30 * 1440 + 1
    assert rows["one tag's day fixes"] == 1440
    assert rows["fixes near"] > 0 and rows["month cells"] >= 2
    assert out.count("PASS") == 3
