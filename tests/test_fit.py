"""Fitting a simulated tag end to end: `emtag sim --serve` puts the tag's USB console on a
real pty (and a TCP port), and `emtag fit` drives every command through pyserial; then the
attacks a wearer could make over the same port.

The firmware runs on the MicroPython unix port in the tag's 192 KiB heap, compiled to .mpy
and run from a ROMFS image as a board runs it (host/unixport.py), or in-process on CPython
where there is no unix port.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from emtag.cli import main as cli
from emtag.firmware import cose as fw_cose
from emtag.host import fitting, keys, unixport
from emtag.protocol import cbor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZONES = os.path.join(REPO, "examples", "zones", "victim-home.geojson")
MICROPYTHON = unixport.binary() is not None


class Serve:
    """`emtag sim --serve` in a child process; its timeline goes to a file we can read."""

    def __init__(self, out, *args):
        self.out = out
        self.log_path = os.path.join(out, "serve.log")
        self.log = open(self.log_path, "w")
        cmd = [sys.executable, "-m", "emtag.cli.main", "sim", "--serve", "--out", out, *args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        m = self.wait_for(r"tag console on (\S+)")
        self.port = m.group(1)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_for(self, pattern, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError("serve exited:\n" + self.text()[-3000:])
            time.sleep(0.1)
        raise AssertionError("no %r in the timeline:\n%s" % (pattern, self.text()[-3000:]))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return self.text()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit")
    store = keys.KeyStore(d / "keys")
    store.new("centre", "centre")
    store.new("alice", "fitter", centre="centre")
    interp = [] if MICROPYTHON else ["--interpreter", "cpython"]
    s = Serve(str(d), "--port", "pty", "--speed", "5", *interp)
    s.store = store
    s.keys = str(d / "keys")
    yield s
    text = s.stop()
    assert "emtag sim: stopped" in text, text[-2000:]
    assert "Traceback" not in text, text[-3000:]


def fit(bench, capsys, *args, key=None):
    argv = ["fit", "--port", bench.port, "--keys", bench.keys, "--json"]
    if key:
        argv += ["--key", key]
    code = cli.main(argv + list(args))
    out = capsys.readouterr()
    if code != 0:
        return code, out.err
    return code, json.loads(out.out) if out.out.strip().startswith("{") else out.out


def test_a_fresh_tag_answers_only_info(bench, capsys):
    code, info = fit(bench, capsys, "info")
    assert code == 0
    assert info["provisioned"] is False and info["dev"] is True and info["counter"] == 0
    assert info["firmware"] and info["board"] == "sim" and len(info["pubkey"]) == 130
    # without provisioning, even a correctly signed command is refused
    code, err = fit(bench, capsys, "config", "set", "fix_interval_s=30")
    assert code == 2 and "not_provisioned" in err
    bench.wait_for(r"console_rejected +code not_provisioned")


def test_fitting_session(bench, capsys):
    """provision, config, zones push, time sync, selftest, arm, status, logs."""
    code, r = fit(bench, capsys, "provision")
    assert code == 0, r
    device = r["device"]
    rec = bench.store.tag(bytes.fromhex(device))
    assert rec["pubkey"] == r["pubkey"] and rec["anchor"] == bench.store.get("centre").kid.hex()
    code, r = fit(bench, capsys, "config", "set", "fix_interval_s=30", "tz=UTC0")
    assert code == 0 and r["config"]["fix_interval_s"] == 30 and r["config"]["tz"] == "UTC0"
    code, r = fit(bench, capsys, "zones", "push", ZONES)
    assert code == 0 and r["installed"] is True and r["zones"] == 1
    code, r = fit(bench, capsys, "time", "sync")
    assert code == 0 and "error_ms" in r
    code, r = fit(bench, capsys, "selftest", "--wait", "120")
    assert code == 0, r
    g = r["gnss"]
    assert r["ok"] and g["ok"] and 0 <= g["fix_age_ms"] < 120000 and 0 < g["acc_cm"] < 5000
    assert g["cn0_max"] is None or 20 <= g["cn0_max"] <= 60
    assert r["strap"]["closed"] and r["battery"]["ok"] and r["flash"]["ok"] and r["signer"]["ok"]
    code, r = fit(bench, capsys, "arm")
    assert code == 0 and r["armed"] is True
    code, r = fit(bench, capsys, "status")
    assert code == 0 and r["armed"] and r["status"]["zones"] == 1 and not r["dev"]
    nmea = r["status"]["nmea"]  # the GNSS UART's health, as the parser counted it
    assert nmea["good"] > 0 and set(nmea) == {
        "good", "bad_checksum", "overlong", "unknown", "garbage"
    }
    code, r = fit(bench, capsys, "logs", "-n", "8")
    assert code == 0
    kinds = [json.loads(e)["type"] for e in r["events"]]
    assert "armed" in kinds and "selftest" in kinds
    # each event carries the tag's UTC: from time sync, or the next GNSS fix (simulated time)
    stamps = [json.loads(e).get("utc") for e in r["events"]]
    assert stamps and all(isinstance(t, int) and t > 1.7e9 for t in stamps), stamps
    code = cli.main(["fit", "logs", "-n", "3", "--port", bench.port, "--keys", bench.keys])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and len(out) == 3, out
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(", line) for line in out), out
    code, r = fit(bench, capsys, "config", "get")
    assert code == 0 and r["config"]["fix_interval_s"] == 30
    # the same through the installed console script, in its own process, as people run it
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "emtag.cli.main",
            "fit",
            "--port",
            bench.port,
            "--keys",
            bench.keys,
            "info",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert re.search(r"provisioned +yes, trust anchor centre \(kid [0-9a-f]{16}\)", p.stdout)
    assert re.search(r"armed +yes", p.stdout) and "registered   yes" in p.stdout
    for kind in ("provisioned", "config_changed", "zones_installed", "time_synced", "armed"):
        bench.wait_for(r"tag +%s" % kind)


def _conn(bench):
    con = fitting.Connection(bench.port, timeout=20)
    con.info()
    return con


def test_attacks_over_the_wire_change_nothing(bench, capsys):
    store = bench.store
    alice = store.get("alice")
    signer, cert = alice.signer(), alice.cert
    with _conn(bench) as con:
        con.call("status", {}, signer, cert)
        replay = con.sent[-1]  # a valid command the tag has just run
        before = con.info()
        config_before = con.call("config_get", {}, signer, cert)["config"]
        counter = before["counter"]
        device = before["device"]

        def refused(message, code):
            for _ in range(20):  # after a forgery the tag checks no signature for a while
                reply = con.send(message)
                if reply[2] != "busy" or code == "busy":
                    break
                time.sleep(0.5)
            assert reply[1] == 1 and reply[2] == code, reply
            return reply[3]

        # a replay of a command the tag ran
        assert "not above" in refused(replay, "replayed")
        # tampered: a changed value under an unchanged signature
        m = bytearray(
            con.signed_request("config_set", {"set": {"fix_interval_s": 30}}, signer, cert)
        )
        i = bytes(m).find(b"fix_interval_s") + len("fix_interval_s")
        assert m[i : i + 2] == b"\x18\x1e"
        m[i + 1] = 0x1F  # 30 -> 31 under the signature made for 30
        refused(bytes(m), "bad_signature")
        # meant for another tag
        other = bytes(8)
        msg = con.signed_request(
            "config_set",
            {"set": {"fix_interval_s": 10}},
            signer,
            cert,
            counter=counter + 5,
            device=other,
        )
        refused(msg, "wrong_device")
        # the wearer's own key, uncertified; then certified by a rogue "centre"
        rogue_store = keys.KeyStore(os.path.join(bench.out, "rogue"))
        rc = rogue_store.new("rogue-centre", "centre")
        rf = rogue_store.new("rogue", "fitter", centre="rogue-centre")
        rogue = rf.signer()
        refused(con.signed_request("config_set", {"set": {"tz": "UTC0"}}, rogue), "bad_signature")
        refused(
            con.signed_request("config_set", {"set": {"tz": "UTC0"}}, rogue, rf.cert), "untrusted"
        )
        refused(con.signed_request("provision", {"anchor": rc.public}, rc.signer()), "provisioned")
        table = b"\x84\x01\xa0\x80\x00"
        zones = {"total": 5, "sha256": bytes(32), "offset": 0, "data": table}
        refused(con.signed_request("zones_put", zones, rogue, rf.cert), "untrusted")
        refused(con.signed_request("zones_put", zones, rogue), "bad_signature")
        # no signature at all
        refused(cbor.dumps([2, 9, cbor.dumps([counter + 1, device, "arm", {}])]), "malformed")
        refused(cbor.dumps([3, 9, "config_set", {"set": {"tz": "UTC0"}}]), "malformed")
        # a fitter may not unlock the REPL or force a wipe
        refused(con.signed_request("devmode", {"on": True}, signer, cert), "forbidden")
        refused(con.signed_request("decommission", {"force": True}, signer, cert), "forbidden")
        # a flood of forgeries: checked one at a time, then not at all for a while
        forged = con.signed_request("status", {}, rogue)
        codes = [con.send(forged)[2] for _ in range(5)]
        assert codes.count("bad_signature") <= 2 and "busy" in codes, codes
        time.sleep(0.5)
        after = con.info()
        assert after["counter"] == counter + 1  # only config_get ran
        assert after["dev"] is False and after["armed"] is True
        assert after["status"]["zones"] == before["status"]["zones"] == 1
        for _ in range(40):  # the back-off after the flood ends (at most 8 s of sim time)
            try:
                assert con.call("config_get", {}, signer, cert)["config"] == config_before
                break
            except fitting.TagError as e:
                assert e.code == "busy"
                time.sleep(0.5)
        else:
            raise AssertionError("still busy")
    for code in (
        "replayed",
        "bad_signature",
        "wrong_device",
        "untrusted",
        "provisioned",
        "malformed",
        "forbidden",
    ):
        bench.wait_for(r"console_rejected +code %s" % code)


def test_a_flood_on_the_console_is_dropped_as_a_uart_would(bench, capsys):
    """A fast flood once filled the simulated tag's heap (MemoryError): its console buffer is
    now bounded, and the port is held off while it is full (USB CDC's flow control), so the
    flood only waits its turn and the tag still answers."""
    with _conn(bench) as con:
        junk = bytes(range(1, 256)) * 64  # no frame delimiter: one endless non-frame
        end = time.monotonic() + 3
        sent = 0
        while time.monotonic() < end:
            con.ser.write(junk)
            sent += len(junk)
        assert sent > 64 << 10  # far more than any buffer on the way holds
    # the request waits behind the rest of the flood (and the first may be read as part of
    # that endless non-frame): the client asks again
    for _ in range(6):
        try:
            with fitting.Connection(bench.port, timeout=5) as con:
                assert con.info()["board"] == "sim"
                break
        except fitting.ConsoleError:
            continue
    else:
        raise AssertionError("the tag no longer answers after a flood")
    assert "MemoryError" not in bench.text()


def test_ctrl_c_on_a_locked_tag_reaches_no_repl(bench, capsys):
    with _conn(bench) as con:
        con.ser.write(b"\x00\r\x03\x03\x03")
        bench.wait_for(r"console_repl_refused")
        assert con.info()["provisioned"] is True  # still answering frames
    # the centre's key may unlock it for development, and lock it again
    code, r = fit(bench, capsys, "devmode", "on", key="centre")
    assert code == 0 and r["dev"] is True
    with _conn(bench) as con:
        con.ser.write(b"\x00\r\x03")
    bench.wait_for(r"tag +console_repl +\n")
    code, r = fit(bench, capsys, "devmode", "off", key="centre")
    assert code == 0 and r["dev"] is False


def test_decommission_uploads_then_wipes(bench, capsys):
    code, before = fit(bench, capsys, "info")
    code, r = fit(bench, capsys, "decommission", "--wait", "120")
    assert code == 0, r
    assert r["wiped"] is True and r["pending"] == 0
    code, after = fit(bench, capsys, "info")
    assert code == 0
    assert after["device"] != before["device"] and after["provisioned"] is False
    assert after["counter"] == 0 and after["status"]["zones"] == 0
    assert bench.store.tag(bytes.fromhex(before["device"]))["decommissioned"]
    bench.wait_for(r"decommissioning +forced no, pending 0")
    bench.wait_for(r"tag +key_generated[^\n]*\n[^\n]*tag +boot +device %s" % after["device"])


def test_a_socket_port_at_the_tags_heap(tmp_path, capsys):
    """A TCP console, and a whole fitting command at the tag's own 192k heap."""
    if not MICROPYTHON:
        pytest.skip("MicroPython unix port not installed")
    s = Serve(str(tmp_path), "--port", "tcp:0", "--heapsize", "192k", "--quiet")
    try:
        assert s.port.startswith("socket://127.0.0.1:")
        store = keys.KeyStore(tmp_path / "keys")
        centre = store.new("centre", "centre")
        with fitting.Connection(s.port, timeout=20) as con:
            assert con.info()["provisioned"] is False
            r = con.call("provision", {"anchor": centre.public}, centre.signer())
            assert r["anchor"] == centre.kid
            assert con.call("config_set", {"set": {"tz": "UTC0"}}, centre.signer())
    finally:
        text = s.stop()
    assert "emtag sim: stopped" in text and "Traceback" not in text
    with open(os.path.join(str(tmp_path), "events.jsonl")) as f:
        evs = [json.loads(line) for line in f]
    assert [e["type"] for e in evs if e["type"].startswith("console_")] == [
        "console_command",
        "console_command",
    ]
    shutdown = next(e for e in evs if e["type"] == "shutdown")
    assert shutdown["heap_peak"] <= 192 * 1024


def test_socket_port_on_cpython(tmp_path, capsys):
    s = Serve(str(tmp_path), "--port", "tcp:0", "--interpreter", "cpython", "--quiet")
    try:
        store = keys.KeyStore(tmp_path / "keys")
        store.new("centre", "centre")
        with fitting.Connection(s.port, timeout=20) as con:
            info = con.info()
            assert info["provisioned"] is False
            centre = store.get("centre")
            r = con.call("provision", {"anchor": centre.public}, centre.signer())
            assert r["pubkey"] == info["pubkey"] and r["anchor"] == centre.kid
            # call() checked the receipt against the tag's key; a forged one is refused
            reply = con.send(con.signed_request("status", {}, centre.signer()))
            body = cbor.loads(fw_cose.verify1(info["pubkey"], reply[2]))
            assert body[1] == "status"
            forged = fw_cose.sign1(centre.signer(), cbor.dumps(body))
            with pytest.raises(fitting.ConsoleError, match="does not verify"):
                con.receipt([reply[0], 0, forged], "status", body[0])
        # the README's spelling, options after the command, answers in words
        tcp = "tcp:" + s.port.rsplit(":", 1)[1]
        code = cli.main(["fit", "status", "--port", tcp, "--keys", str(tmp_path / "keys")])
        out = capsys.readouterr().out
        assert code == 0, out
        assert re.search(r"strap +closed", out) and re.search(r"battery +\d\.\d\d V", out)
        assert re.search(r"armed +no: tamper detection off", out)
        assert "True" not in out and "False" not in out and "_mv" not in out
    finally:
        s.stop()
