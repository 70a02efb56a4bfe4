"""Progress of a run on the terminal: simulated time, share done, wall time.

    progress, timeline = progress_bar(sys.stderr, scenario, sys.stdout or None)

On a terminal, one status line redrawn in place a few times a second, cleared whenever a
timeline line is printed (the timeline stream returned wraps the one given); otherwise (a
log file, CI) a line at each tenth of the run, only for runs of more than a simulated day.
Wall time is only ever shown, never recorded: events.jsonl stays byte-identical.
"""

import time

from emtag.simulator.events import iso

REDRAW_S = 0.25
WIDTH = 30


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


class _Bar:
    def __init__(self, stream, tty, announce_lines):
        self.stream = stream
        self.tty = tty
        self.lines = announce_lines
        self.t0 = time.monotonic()
        self.last = -1.0
        self.step = 0
        self.shown = False

    def clear(self):
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def __call__(self, frac, now_ms):
        frac = min(max(frac, 0.0), 1.0)
        wall = time.monotonic() - self.t0
        if self.tty:
            if wall - self.last < REDRAW_S and frac < 1.0:
                return
            self.last = wall
            n = int(frac * WIDTH)
            self.stream.write(
                "\r\033[K[%s%s] %3d%%  %s UTC  %.0f s"
                % ("#" * n, "." * (WIDTH - n), frac * 100, iso(now_ms)[:16].replace("T", " "), wall)
            )
            self.stream.flush()
            self.shown = True
            if frac >= 1.0:
                self.clear()
            return
        if not self.lines:
            return
        step = int(frac * 10)
        if step > self.step:
            self.step = step
            self.stream.write(
                "emtag sim: %d%% (%s UTC simulated, %.0f s)\n"
                % (step * 10, iso(now_ms)[:16].replace("T", " "), wall)
            )
            self.stream.flush()


def progress_bar(stream, sc, timeline=None):
    """(progress callable for simulate(), the timeline stream to give it)."""
    tty = hasattr(stream, "isatty") and stream.isatty()
    bar = _Bar(stream, tty, sc.duration_s > 86400)
    if timeline is not None and tty:
        timeline = _Timeline(timeline, bar)
    return bar, timeline
