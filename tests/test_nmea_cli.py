"""`emtag nmea`: one JSON object per epoch on stdout, counters on stderr, exit 0 on any
input and non-zero only for a file that cannot be read.

The capture quotes gpsd's gp-320fw-2019-04-06-overflow.log (BSD-2-Clause, Copyright the
GPSD project; terms in ../shared/corpus/gpsd/COPYING).
"""

import datetime
import io
import json
import os
import re
import subprocess
import sys

import pytest

from emtag.cli import main as cli
from emtag.host import unixport

KEYS = ["time", "lat", "lon", "fix", "sats", "hdop", "accuracy_m", "speed_mps", "course_deg",
        "alt_m"]


def nmea(body):
    x = 0
    for c in body:
        x ^= ord(c)
    return "$%s*%02X\r\n" % (body, x)


CAPTURE = (
    "# a comment line, as in gpsd's captures\n"
    + nmea("GPRMC,235724.02,A,4808.9978,N,01135.0800,E,001.0,090.0,060419,003.0,E,A")
    + nmea("GPGGA,235724.02,4808.9978,N,01135.0800,E,1,04,01.4,00464.4,M,0046.2,M,,")
    + nmea("GPGSA,A,3,20,,,,31,13,,04,,,,,02.6,01.4,02.1")
    + "\x00\xff garbage $GPGGA,23572"
    + nmea("GPGGA,235725.02,,,,,0,00,,,M,,M,,")
)


@pytest.fixture
def capture(tmp_path):
    path = tmp_path / "cap.nmea"
    path.write_bytes(CAPTURE.encode("latin-1"))
    return str(path)


def emtag(capsys, *args):
    code = cli.main(["nmea"] + list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_one_json_object_per_epoch(capsys, capture):
    code, out, err = emtag(capsys, capture, "--not-before", "2010-01-01")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert list(first) == KEYS
    assert first == {
        "time": "2019-04-06T23:57:24.020Z", "lat": 48.1499633, "lon": 11.5846667,
        "fix": "3d", "sats": 4, "hdop": 1.4, "accuracy_m": 14.0,  # 2 * HDOP 1.4 * 5 m
        "speed_mps": 0.514, "course_deg": 90.0, "alt_m": 464.4,
    }
    assert second == {
        "time": "2019-04-06T23:57:25.020Z", "lat": None, "lon": None, "fix": "none",
        "sats": 0, "hdop": None, "accuracy_m": None, "speed_mps": None, "course_deg": None,
        "alt_m": None,
    }
    # degrees as exact decimals with 7 places, whatever the float would print
    assert re.search(r'"lat":48\.1499633,"lon":11\.5846667,', lines[0])
    assert "good=4 bad_checksum=0 overlong=0 unknown=0 garbage=2" in err
    assert "epochs=2" in err


def test_default_not_before_is_the_tags(capsys, capture):
    _, out, err = emtag(capsys, capture)
    # 2019-04-06 is before 2025-01-01: a rolled-over receiver, 1024 weeks on
    assert json.loads(out.splitlines()[0])["time"] == "2038-11-20T23:57:24.020Z"
    # ...and stderr says so: the file, how many epochs, from and to, and the way out
    later = datetime.date(2019, 4, 6) + datetime.timedelta(weeks=1024)
    assert "cap.nmea: 2 epochs dated 2019-04-06 moved 1024 weeks (19.6 years) on, to %s" % (
        later.isoformat()) in err
    assert "dates before 2025-01-01" in err and "--not-before 2019-01-01" in err
    _, _, err = emtag(capsys, capture, "--not-before", "2019-01-01")
    assert "moved" not in err and "rollover" not in err


def test_a_date_too_early_even_for_a_rollover_is_said(capsys, tmp_path):
    path = tmp_path / "old.nmea"
    path.write_text(nmea("GPRMC,120000,A,4808.9978,N,01135.0800,E,1.0,90.0,060180,,,A"))
    _, out, err = emtag(capsys, str(path))
    assert json.loads(out)["time"] is None
    assert "old.nmea: 1 epoch dated 1980-01-06 given no time" in err
    assert "--not-before 1980-01-01" in err


def test_standard_input(capsys, capture, monkeypatch):
    data = open(capture, "rb").read()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, err = emtag(capsys, "-", "--not-before", "2010-01-01")
    code2, out2, err2 = emtag(capsys, capture, "--not-before", "2010-01-01")
    assert code == code2 == 0 and out == out2 and len(out.splitlines()) == 2
    assert err == err2.replace("cap.nmea", "<stdin>")
    code, _, err = emtag(capsys, "-", "-")
    assert code == 2 and "only once" in err
    # and through a pipe, as `gpspipe -R | emtag nmea -` would
    p = subprocess.run([sys.executable, "-m", "emtag.cli.main", "nmea", "-", "--not-before",
                        "2010-01-01"], input=data, capture_output=True, timeout=60)
    assert p.returncode == 0 and p.stdout.decode() == out2, p.stderr


def test_corrupt_input_exits_zero(capsys, tmp_path):
    path = tmp_path / "noise.bin"
    path.write_bytes(bytes(range(256)) * 40 + b"$GPRMC,1*00\r\n$$$\r\r")
    code, out, err = emtag(capsys, str(path))
    assert code == 0 and out == ""
    # each `$` in the noise opens a line that runs past MAXLEN; "$\r" is an empty sentence
    assert "good=0 bad_checksum=2 overlong=40 unknown=0 garbage=40" in err


def test_unreadable_file_fails_before_any_output(capsys, capture, tmp_path):
    code, out, err = emtag(capsys, capture, str(tmp_path / "missing.nmea"))
    assert code != 0 and out == ""
    assert "cannot read" in err and "missing.nmea" in err
    assert len(err.strip().splitlines()) == 1


def test_no_checksum_profile(capsys, tmp_path):
    path = tmp_path / "bare.nmea"
    path.write_text("$GPGGA,222449,4808.9978,N,01135.0800,E,1,04,1.4,464.4,M,46.2,M,,\r\n"
                    "$GPZDA,222449,25,10,2010,+00,00\r\n")
    code, out, err = emtag(capsys, str(path), "--not-before", "2010-01-01")
    assert code == 0 and out == "" and "bad_checksum=2" in err
    code, out, err = emtag(capsys, str(path), "--no-checksum", "--not-before", "2010-01-01")
    assert json.loads(out)["time"] == "2010-10-25T22:24:49.000Z"
    assert "good=2" in err


def test_full_adds_the_cn0_summary(capsys, tmp_path):
    path = tmp_path / "gsv.nmea"
    path.write_text(nmea("GPRMC,235724.02,A,4808.9978,N,01135.0800,E,1.0,90.0,060419,,,A")
                    + nmea("GPGSV,1,1,02,20,78,050,41,31,27,063,37"))
    _, out, _ = emtag(capsys, str(path), "--full")
    d = json.loads(out)
    assert d["cn0"] == {"gps": {"view": 2, "tracked": 2, "max_dbhz": 41, "mean_dbhz": 39,
                                "used": 0}}


def test_bad_date_option(capsys, capture):
    for bad in ("yesterday", "2019-02-30"):
        with pytest.raises(SystemExit) as e:
            emtag(capsys, capture, "--not-before", bad)
        assert e.value.code == 2 and "YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.skipif(unixport.binary() is None, reason="MicroPython unix port not installed")
def test_micropython_interpreter_prints_the_same(capture):
    def run(*extra):
        return subprocess.run(
            [sys.executable, "-m", "emtag.cli.main", "nmea", capture, "--full",
             "--not-before", "2010-01-01", *extra],
            capture_output=True, text=True, timeout=120, env=dict(os.environ))

    cp, mp = run(), run("--interpreter", "micropython")
    assert cp.returncode == mp.returncode == 0, mp.stderr
    assert cp.stdout == mp.stdout and len(cp.stdout.splitlines()) == 2
    assert cp.stderr == mp.stderr
