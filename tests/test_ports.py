"""Port names (host/ports.py): one set of spellings for fit, bridge, flash and sim --serve,
and options accepted before or after a sub-subcommand (cli/options.py)."""

import os

import pytest

from emtag.cli import main as cli
from emtag.host import ports
from emtag.simulator import serve


@pytest.mark.parametrize(
    "text, kind, url",
    [
        ("/dev/ttyACM0", "device", "/dev/ttyACM0"),
        ("/dev/pts/3", "device", "/dev/pts/3"),
        ("COM5", "device", "COM5"),
        ("com12", "device", "com12"),
        ("tcp:7000", "tcp", "socket://127.0.0.1:7000"),
        ("tcp:tagbench.local:7000", "tcp", "socket://tagbench.local:7000"),
        ("tcp://10.0.0.2:7000", "tcp", "socket://10.0.0.2:7000"),
        ("socket://127.0.0.1:7000", "tcp", "socket://127.0.0.1:7000"),
        ("tcp:[::1]:7000", "tcp", "socket://[::1]:7000"),
        ("socket://h:7000?logging=debug", "tcp", "socket://h:7000?logging=debug"),
        ("rfc2217://10.0.0.2:2217", "url", "rfc2217://10.0.0.2:2217"),
        ("loop://", "url", "loop://"),
    ],
)
def test_spellings(text, kind, url):
    p = ports.parse(text)
    assert (p.kind, p.url, str(p)) == (kind, url, text)


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "no port given"),
        ("tcp:", "must be a number"),
        ("tcp:http", "must be a number"),
        ("tcp:70000", "must be a number"),
        ("socket://host", "want socket://HOST:PORT"),
        ("tcp:bad host!:7", "not a host name"),
        ("http://x:1", "unknown URL scheme 'http'"),
        ("ttyACM0", "is not a port name"),
        ("pty", "for emtag sim --serve"),
    ],
)
def test_what_is_not_a_port_is_said(text, words):
    with pytest.raises(ports.PortNameError, match=words.replace("(", r"\(")):
        ports.parse(text)


def parse(*argv):
    return cli.build_parser().parse_args(list(argv))


def test_every_command_takes_the_same_spellings():
    for spelling, url in (("tcp:7000", "socket://127.0.0.1:7000"), ("COM5", "COM5")):
        assert parse("fit", "--port", spelling, "info").port == url
        assert parse("fit", "info", "--port", spelling).port == url
        assert parse("flash", "--port", spelling, "--dry-run").port == url
        assert parse("bridge", "--port", spelling).port == [url]
    p = parse("sim", "--serve", "--port", "tcp:7000").port
    assert (p.kind, p.host, p.port) == ("tcp", "127.0.0.1", 7000)
    assert parse("sim", "--serve").port.kind == "pty"


def test_bad_port_names_are_usage_errors(capsys):
    for argv in (
        ("fit", "info", "--port", "tcp:x"),
        ("bridge", "--port", "nowhere"),
        ("flash", "--port", "http://a:1"),
        ("sim", "--serve", "--port", "/dev/ttyUSB0"),
    ):
        with pytest.raises(SystemExit) as e:
            parse(*argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert "argument --port" in err and "Traceback" not in err, err


def test_options_before_or_after_the_sub_subcommand(tmp_path):
    a = parse("fit", "--port", "tcp:7000", "--keys", "K", "--json", "config", "set", "tz=UTC0")
    b = parse("fit", "config", "set", "tz=UTC0", "--port", "tcp:7000", "--keys", "K", "--json")
    c = parse("fit", "config", "--keys", "K", "set", "--port", "tcp:7000", "--json", "tz=UTC0")
    for args in (a, b, c):
        assert (args.port, args.keys, args.json, args.settings) == (
            "socket://127.0.0.1:7000", "K", True, ["tz=UTC0"]
        )
    # given after the sub-subcommand it wins; not given there, the one before stays
    assert parse("fit", "--port", "tcp:1", "info", "--port", "tcp:2").port.endswith(":2")
    assert parse("fit", "--timeout", "3", "status").timeout == 3.0
    assert parse("fit", "status").timeout == 10.0 and parse("fit", "status").json is False
    assert parse("keys", "list", "--keys", "D").keys == "D"
    assert parse("keys", "--keys", "D", "list").keys == "D"


def test_emtag_port_from_the_environment_is_read_the_same_way(monkeypatch):
    monkeypatch.setenv("EMTAG_PORT", "tcp:7001")
    assert parse("fit", "info").port == "socket://127.0.0.1:7001"


def test_serve_listens_on_any_tcp_spelling_and_refuses_a_device():
    for spelling in ("tcp:0", "tcp:127.0.0.1:0", "socket://127.0.0.1:0"):
        port = serve.open_port(spelling)
        try:
            assert port.url.startswith("socket://127.0.0.1:") and not port.url.endswith(":0")
        finally:
            port.close()
    with pytest.raises(serve.ServeError, match="pty or a TCP port"):
        serve.open_port("/dev/ttyUSB0")
    if os.name == "posix":
        p = serve.open_port("pty")
        try:
            assert p.url.startswith("/dev/")
        finally:
            p.close()
