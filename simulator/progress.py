"""Progress of long runs, on stderr: one run, many runs in parallel, or any job that counts.

    progress, timeline = progress_bar(sys.stderr, scenario, sys.stdout or None)
    bar = Bar(sys.stderr, "emtag bench alerts"); bar.show(done / total, "412 of 1000 tag-days")
    runs = RunsBar(sys.stderr, "emtag sim", ["adaptive", "baseline"]); runs.update(fractions)

On a terminal, one status line redrawn in place a few times a second (cleared whenever a
timeline line is printed: the timeline stream returned wraps the one given). Otherwise (a
log file, CI) a plain line at each tenth of the job, once the job has run LINES_AFTER_S of
wall time or when it is known to be long, so short runs stay quiet and long ones never are.
Wall time is only ever shown, never recorded: events.jsonl stays byte-identical.
"""

import time

from emtag.simulator.events import iso

REDRAW_S = 0.25
WIDTH = 30
LINES_AFTER_S = 5.0  # without a terminal: lines once a job has run this long


class Bar:
    """A progress display for one job: show(fraction, detail) as often as you like."""

    def __init__(self, stream, label, long_job=False):
        self.stream = stream
        self.label = label
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.long_job = long_job
        self.t0 = time.monotonic()
        self.last = -1.0
        self.step = 0
        self.shown = False

    def clear(self):
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def show(self, frac, detail=""):
        frac = min(max(frac, 0.0), 1.0)
        wall = time.monotonic() - self.t0
        if self.tty:
            if wall - self.last < REDRAW_S and frac < 1.0:
                return
            self.last = wall
            n = int(frac * WIDTH)
            self.stream.write(
                "\r\033[K[%s%s] %3d%%  %s  %.0f s" % ("#" * n, "." * (WIDTH - n), frac * 100,
                                                    detail, wall)
            )
            self.stream.flush()
            self.shown = True
            if frac >= 1.0:
                self.clear()
            return
        step = int(frac * 10)
        if step > self.step and (self.long_job or wall >= LINES_AFTER_S):
            self.step = step
            self.stream.write("%s: %d%% (%s, %.0f s)\n" % (self.label, step * 10, detail, wall))
            self.stream.flush()

    def done(self, text):
        """A line that stays (a run finished): clears the bar first."""
        self.clear()
        self.stream.write("%s: %s\n" % (self.label, text))
        self.stream.flush()


class RunsBar(Bar):
    """Several runs in parallel (a fleet, a run and its baseline): overall share, and each
    run's own share while there are few of them."""

    def __init__(self, stream, label, names):
        super().__init__(stream, label, long_job=False)
        self.names = names

    def update(self, fracs):
        total = sum(fracs) / max(1, len(fracs))
        finished = sum(1 for f in fracs if f >= 1.0)
        if len(fracs) <= 3:
            detail = ", ".join("%s %d%%" % (n, f * 100) for n, f in zip(self.names, fracs,
                                                                        strict=True))
        else:
            detail = "%d of %d runs done" % (finished, len(fracs))
        self.show(total if finished < len(fracs) else 1.0, detail)


class _Timeline:
    """The timeline stream, clearing the status line before each write."""

    def __init__(self, stream, bar):
        self.stream = stream
        self.bar = bar

    def write(self, text):
        self.bar.clear()
        self.stream.write(text)

    def flush(self):
        self.stream.flush()


def progress_bar(stream, sc, timeline=None, label="emtag sim"):
    """(progress callable(fraction, now_ms) for simulate(), the timeline stream to give it)."""
    bar = Bar(stream, label, long_job=sc.duration_s > 86400)

    def progress(frac, now_ms):
        bar.show(frac, "%s UTC simulated" % iso(now_ms)[:16].replace("T", " "))

    progress.bar = bar
    if timeline is not None and bar.tty:
        timeline = _Timeline(timeline, bar)
    return progress, timeline
