"""authlens.mitm.export inside mitmproxy: the ``authlens.save_har`` and ``authlens.report``
commands and the ``authlens_har_dump`` option, with the real AuthLens addon and engine in
a ``mitmproxy.test.taddons`` context."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import exceptions, http
from mitmproxy.hooks import DoneHook
from mitmproxy.test import taddons, tflow, tutils

from authlens.mitm import export
from authlens.mitm.adapter import read_flows
from authlens.mitm.addon import AuthLens
from authlens.mitm.export import AuthLensExport, report_flows, write_har
from authlens.report.har import validate_har

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Export-Canary-Pa55"
CHALLENGE = ("WWW-Authenticate", 'Basic realm="shop"')
T0 = 1_700_000_000.0


def hdrs(*pairs: tuple[str, str]) -> http.Headers:
    return http.Headers([(k.encode(), v.encode()) for k, v in pairs])


def basic(password: str = PASSWORD) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"alice:{password}".encode()).decode())


def exchange(
    path: str, status: int, *, req: tuple[tuple[str, str], ...] = (), t: float = T0
) -> http.HTTPFlow:
    request = tutils.treq(
        host="127.0.0.1",
        port=8080,
        path=path.encode(),
        headers=hdrs(("Host", "127.0.0.1:8080"), ("User-Agent", "curl/8.5.0"), *req),
        timestamp_start=t,
        timestamp_end=t + 0.01,
    )
    headers = hdrs(CHALLENGE) if status == 401 else hdrs()
    response = tutils.tresp(
        status_code=status,
        headers=headers,
        content=b"",
        timestamp_start=t + 0.02,
        timestamp_end=t + 0.03,
    )
    f = tflow.tflow(req=request, resp=response)
    f.live = False  # as flows replayed from a file (``mitmdump -nr``): the response is the server's
    return f


def wrong_password() -> list[http.HTTPFlow]:
    return [
        exchange("/orders", 401),
        exchange("/orders", 401, req=(basic(),), t=T0 + 1),
        exchange("/plain", 200, t=T0 + 2),
    ]


@pytest.fixture
def addons() -> Iterator[tuple[Any, AuthLens, AuthLensExport]]:
    lens, exporter = AuthLens(), AuthLensExport()
    with taddons.context(lens, exporter) as tctx:
        tctx.configure(lens)
        yield tctx, lens, exporter


def run(tctx: Any, flows: list[http.HTTPFlow], *addons: Any) -> None:
    for f in flows:
        for a in addons:
            tctx.master.event_loop.run_until_complete(tctx.cycle(a, f))


def secrets() -> list[str]:
    return [PASSWORD, base64.b64encode(f"alice:{PASSWORD}".encode()).decode()]


# --- commands ---------------------------------------------------------------------------


def test_commands_are_registered(addons: Any) -> None:
    tctx, _lens, _exporter = addons
    commands = tctx.master.commands.commands
    assert "authlens.save_har" in commands
    assert "authlens.report" in commands
    for name in ("authlens.save_har", "authlens.report"):
        assert [p.name for p in commands[name].parameters] == ["flows", "path"]
        assert "  " not in commands[name].help  # one tidy sentence in the command list


def test_save_har_command(addons: Any, tmp_path: Path) -> None:
    tctx, lens, _exporter = addons
    flows = wrong_password()
    run(tctx, flows, lens)
    path = tmp_path / "out.har"
    tctx.master.commands.call("authlens.save_har", flows, str(path))
    text = path.read_text()
    har = json.loads(text)
    assert validate_har(har) == []
    entries = har["log"]["entries"]
    assert len(entries) == 3
    assert entries[1]["comment"] == flows[1].comment
    assert entries[1]["comment"].startswith("credentials-rejected")
    assert entries[1]["_authlens"]["diagnoses"][0]["id"] == "credentials-rejected"
    assert "_authlens" not in entries[2]
    assert har["log"]["_authlens"] == {"version": 1, "redacted": True}
    for secret in secrets():
        assert secret not in text
    # It loads back into mitmproxy with its annotations.
    back = list(read_flows(path))
    assert [f.comment for f in back] == [f.comment for f in flows]
    assert back[1].metadata["authlens"]["diagnoses"] == flows[1].metadata["authlens"]["diagnoses"]


def test_save_har_raw_when_redaction_is_off(addons: Any, tmp_path: Path) -> None:
    tctx, lens, _exporter = addons
    tctx.options.update(authlens_redact=False)
    flows = wrong_password()
    run(tctx, flows, lens)
    path = tmp_path / "raw.har"
    tctx.master.commands.call("authlens.save_har", flows, str(path))
    har = json.loads(path.read_text())
    assert har["log"]["_authlens"]["redacted"] is False
    assert har["log"]["entries"][1]["_authlens"]["credentials"]["summary"]["password"] == PASSWORD


def test_save_har_to_unwritable_path(addons: Any, tmp_path: Path) -> None:
    tctx, _lens, _exporter = addons
    with pytest.raises(exceptions.CommandError, match="cannot write"):
        tctx.master.commands.call("authlens.save_har", [], str(tmp_path / "no" / "x.har"))


def test_report_command(addons: Any, tmp_path: Path) -> None:
    tctx, lens, _exporter = addons
    flows = wrong_password()
    run(tctx, flows, lens)
    path = tmp_path / "report.html"
    tctx.master.commands.call("authlens.report", flows, str(path))
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "credentials-rejected" in text
    assert "2 judged flows" in text  # the unjudged 200 is not a card
    for secret in secrets():
        assert secret not in text


def test_report_flows_shape() -> None:
    f = exchange("/x", 401)
    f.metadata["authlens"] = {"version": 1, "diagnoses": [], "comment": "block"}
    plain = exchange("/y", 200)
    items = list(report_flows([f, plain]))
    assert items == [
        {
            "id": f.id,
            "method": "GET",
            "url": "http://127.0.0.1:8080/x",
            "status": 401,
            "version": 1,
            "diagnoses": [],
        }
    ]


# --- authlens_har_dump ------------------------------------------------------------------------


def test_har_dump_at_exit_holds_late_verdicts(addons: Any, tmp_path: Path) -> None:
    tctx, lens, exporter = addons
    path = tmp_path / "dump.har"
    tctx.options.update(authlens_har_dump=str(path))
    lonely = exchange("/lonely", 401)  # never answered: no-retry is decided at the end
    run(tctx, [lonely, exchange("/plain", 200, t=T0 + 1)], lens, exporter)
    assert "no-retry" not in lonely.comment
    tctx.master.addons.trigger(DoneHook())  # in chain order: AuthLens, then the export
    har = json.loads(path.read_text())
    assert validate_har(har) == []
    entries = har["log"]["entries"]
    assert len(entries) == 2
    assert entries[0]["comment"].startswith("no-retry")
    assert entries[0]["_authlens"]["diagnoses"][0]["id"] == "no-retry"


def test_har_dump_dash_prints(addons: Any, capsys: pytest.CaptureFixture[str]) -> None:
    tctx, lens, exporter = addons
    tctx.options.update(authlens_har_dump="-")
    run(tctx, wrong_password(), lens, exporter)
    tctx.master.addons.trigger(DoneHook())
    har = json.loads(capsys.readouterr().out)
    assert validate_har(har) == []
    assert len(har["log"]["entries"]) == 3


def test_har_dump_off_keeps_no_flows(addons: Any) -> None:
    tctx, lens, exporter = addons
    run(tctx, wrong_password(), lens, exporter)
    assert exporter.flows == []
    tctx.options.update(authlens_har_dump="x.har")
    run(tctx, wrong_password(), lens, exporter)
    assert len(exporter.flows) == 3
    tctx.options.update(authlens_har_dump="")
    assert exporter.flows == []


def test_refused_connect_is_kept_when_judged(addons: Any, tmp_path: Path) -> None:
    tctx, lens, exporter = addons
    tctx.options.update(authlens_har_dump=str(tmp_path / "d.har"))
    f = tflow.tflow(req=tutils.treq(method=b"CONNECT", host="127.0.0.1", port=443, path=b""))
    f.request.authority = "127.0.0.1:443"
    f.response = http.Response.make(407, b"", {"Proxy-Authenticate": 'Basic realm="mitmproxy"'})
    lens.http_connect_error(f)
    exporter.http_connect_error(f)
    assert exporter.flows == [f]
    plain = tflow.tflow(req=tutils.treq(method=b"CONNECT", host="127.0.0.1", port=443, path=b""))
    exporter.http_connect_error(plain)
    assert exporter.flows == [f]


# --- the writer -----------------------------------------------------------------------------


def test_write_har_streams_in_chunks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(export, "HAR_CHUNK", 2)
    flows = [exchange(f"/n{i}", 200, t=T0 + i) for i in range(5)]
    flows[3].comment = "someone's note"
    flows[4].metadata["authlens"] = {"version": 1, "diagnoses": [], "comment": "x"}
    flows[4].comment = "x"
    path = tmp_path / "c.har"
    with path.open("w") as fo:
        assert write_har(fo, flows) == 5
    har = json.loads(path.read_text())
    assert validate_har(har) == []
    entries = har["log"]["entries"]
    assert [e["request"]["url"].rsplit("/", 1)[1] for e in entries] == [f"n{i}" for i in range(5)]
    assert entries[3]["comment"] == "someone's note"  # mitmproxy's writer drops comments
    assert entries[4]["comment"] == "x"
    assert har["log"]["creator"]["name"] == "mitmproxy"


def test_write_har_of_nothing_is_valid() -> None:
    import io

    buffer = io.StringIO()
    assert write_har(buffer, []) == 0
    har = json.loads(buffer.getvalue())
    assert validate_har(har) == []
    assert har["log"]["entries"] == []


def test_offline_reader_agrees_with_the_addon_on_its_comment_key() -> None:
    from authlens.mitm import addon, offline

    assert offline.COMMENT_KEY == addon.COMMENT_KEY


def test_clear_annotation_keeps_what_a_person_wrote() -> None:
    f = exchange("/x", 401)
    f.comment = "mine\nno-retry: old"
    f.marked = ":no_entry:"
    f.metadata["authlens"] = {"comment": "no-retry: old"}
    export.clear_annotation(f)
    assert f.comment == "mine"
    assert f.marked == ""
    assert "authlens" not in f.metadata


@pytest.mark.parametrize("path", ["addon/authlens_addon.py", "addon/authlens/mitm/entry.py"])
def test_entry_scripts_put_the_export_after_authlens(path: str) -> None:
    with taddons.context() as tctx:
        module = tctx.script(str(ROOT / path))
        names = [type(x).__name__ for x in module.addons]
        # mitmproxy calls `done` in this order: AuthLens settles the last verdicts, the
        # export (last of all) writes them.
        assert names[0] == "AuthLens"
        assert names[-1] == "AuthLensExport"
        for x in module.addons:
            x.done()
