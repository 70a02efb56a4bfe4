"""Every test module in tests/device runs twice: under pytest on CPython as usual, and on
the MicroPython unix port with the tag's heap budget (items named `...::micropython::test_x`).

Device test modules use plain `assert` and no fixtures so both interpreters run them as is.
A module may ask for a bigger heap for its test data with a line `MICROPYTHON_HEAPSIZE = "512k"`.
"""

import os
import re
import subprocess

import pytest

from emtag.host import unixport

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".py" and file_path.name.startswith("test_"):
        return MicroPythonModule.from_parent(parent, path=file_path, name="micropython")
    return None


class MicroPythonModule(pytest.File):
    def collect(self):
        source = self.path.read_text()
        self.heapsize = unixport.HEAPSIZE
        m = re.search(r'^MICROPYTHON_HEAPSIZE\s*=\s*"(\w+)"', source, re.M)
        if m:
            self.heapsize = m.group(1)
        self._results = None
        for name in re.findall(r"^def (test_\w+)\(\)", source, re.M):
            yield MicroPythonItem.from_parent(self, name=name + "[micropython]", function=name)

    def results(self):
        if self._results is None:
            if unixport.binary() is None:
                pytest.skip("MicroPython unix port not installed")
            proc = unixport.run(
                ["mprun.py", self.path.stem],
                heapsize=self.heapsize,
                extra_path=[HERE],
                cwd=HERE,
                capture_output=True,
                text=True,
                timeout=600,
            )
            self._results = parse(proc)
        return self._results


def parse(proc: subprocess.CompletedProcess) -> dict:
    results, trace, current = {}, {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("@@TRACE "):
            current = line.split()[1]
            trace[current] = []
        elif line.startswith("@@RESULT "):
            _, name, status = line.split()
            results[name] = (status, "\n".join(trace.get(name, [])))
            current = None
        elif current:
            trace[current].append(line)
    results["__output__"] = proc.stdout[-4000:] + proc.stderr[-4000:]
    return results


class MicroPythonItem(pytest.Item):
    def __init__(self, *, function, **kw):
        super().__init__(**kw)
        self.function = function

    def runtest(self):
        results = self.parent.results()
        if self.function not in results:
            raise AssertionError(
                "did not run on MicroPython (crash or import error?):\n" + results["__output__"]
            )
        status, trace = results[self.function]
        if status != "PASS":
            raise AssertionError("failed on MicroPython:\n" + trace)

    def reportinfo(self):
        return self.path, 0, self.name
