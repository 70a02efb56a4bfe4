"""`emtag bridge` as a child process for tests and benchmarks: start it, watch its event
lines, kill it."""

import collections
import os
import signal
import subprocess
import sys
import threading
import time


class BridgeProc:
    """keep: the last lines kept (None: all; a long run under attack prints millions);
    on_line(line): called for each line, on the reader thread."""

    def __init__(self, *args, keep=None, on_line=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emtag.cli.main", "bridge", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = [] if keep is None else collections.deque(maxlen=keep)
        self.on_line = on_line
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.on_line is not None:
                self.on_line(line)

    def wait_for(self, text, timeout=15.0, start=0):
        """The first line (from index start) containing text; AssertionError on timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines)[start:]:
                if text in line:
                    return line
            if self.proc.poll() is not None and not self._t.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError("bridge never said %r:\n%s" % (text, "\n".join(self.lines[-40:])))

    def kill(self):
        """SIGKILL: no chance to clean up."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._t.join(5)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._t.join(5)
        return self.proc.returncode

    def output(self):
        return "\n".join(list(self.lines))
