"""`emtag bridge` as a child process for tests: start it, watch its event lines, kill it."""

import os
import signal
import subprocess
import sys
import threading
import time


class BridgeProc:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emtag.cli.main", "bridge", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text, timeout=15.0, start=0):
        """The first line (from index start) containing text; AssertionError on timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.lines[start:]:
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
        return "\n".join(self.lines)
