"""authlens.mitm.addon: options, hooks and how verdicts land on flows (with a fake engine).

The engine is exercised for real by tests/e2e; here a scripted Analyzer stands in so each
addon behaviour (comment merging, late verdicts, redaction, the guard) is pinned alone.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import contentviews, exceptions, http
from mitmproxy.addons import save
from mitmproxy.hooks import RunningHook
from mitmproxy.io import FlowReader, FlowWriter
from mitmproxy.test import taddons, tflow, tutils
from mitmproxy.tools.web.webaddons import WebAddon

from authlens.diagnose.api import MARKER_ERROR, MARKER_INFO, AnalyzerConfig, Verdict
from authlens.findings import Severity
from authlens.mitm import addon as addon_module
from authlens.mitm.addon import AuthLens, load_credentials, patch_flow_file, write_annotation
from authlens.mitm.contentview import auth_view
from authlens.model import Exchange
from authlens.secret import Secret

ROOT = Path(__file__).resolve().parents[2]
CANARY = "Canary-Pa55w0rd!"


class FakeAnalyzer:
    """A scripted stand-in for authlens.diagnose.Analyzer.

    ``observe`` judges every exchange with status 401 as credentials-rejected (with a Secret
    in its metadata) and, when ``explain_earlier`` is set, re-judges the first exchange it
    saw whenever a later one arrives (as a late ``no-retry`` would).
    """

    def __init__(self, config: AnalyzerConfig) -> None:
        self.config = config
        self.observed: list[Exchange] = []
        self.expired: list[float] = []
        self.finished = 0
        self.explain_earlier = False
        self.fail = False

    def is_relevant(self, exchange: Exchange) -> bool:
        return True

    def observe(self, exchange: Exchange) -> list[Verdict]:
        if self.fail:
            raise RuntimeError(f"engine bug while reading {CANARY}")
        self.observed.append(exchange)
        out = [verdict(exchange.id, "credentials-rejected", Severity.ERROR)]
        if self.explain_earlier and len(self.observed) > 1:
            out.append(verdict(self.observed[0].id, "no-retry", Severity.WARNING))
        return out

    def expire(self, now: float) -> list[Verdict]:
        self.expired.append(now)
        return []

    def finish(self) -> list[Verdict]:
        self.finished += 1
        if self.observed:
            return [verdict(self.observed[0].id, "lockout-suspected", Severity.ERROR)]
        return []


def verdict(exchange_id: str, diagnosis: str, severity: Severity) -> Verdict:
    marker = {Severity.ERROR: MARKER_ERROR, Severity.WARNING: ":warning:"}.get(
        severity, MARKER_INFO
    )
    metadata = {
        "version": 1,
        "credentials": {
            "field": "Authorization",
            "scheme": "Basic",
            "summary": {"user": "alice", "password": Secret(CANARY)},
        },
        "diagnoses": [{"id": diagnosis, "severity": str(severity), "title": diagnosis}],
    }
    return Verdict(exchange_id, metadata, f"{diagnosis}: explained", marker, severity)


class Recorder:
    """Collects the flows of every `update` hook, as mitmweb's view would react to."""

    def __init__(self) -> None:
        self.updates: list[list[http.HTTPFlow]] = []

    def update(self, flows: list[http.HTTPFlow]) -> None:
        self.updates.append(list(flows))


def make_addon() -> tuple[AuthLens, list[FakeAnalyzer]]:
    made: list[FakeAnalyzer] = []

    def factory(config: AnalyzerConfig) -> FakeAnalyzer:
        made.append(FakeAnalyzer(config))
        return made[-1]

    return AuthLens(analyzer_factory=factory), made


def flow_401(**kwargs: Any) -> http.HTTPFlow:
    auth = "Basic " + base64.b64encode(f"alice:{CANARY}".encode()).decode()
    req = tutils.treq(headers=http.Headers([(b"Authorization", auth.encode())]))
    resp = tutils.tresp(
        status_code=401,
        headers=http.Headers([(b"WWW-Authenticate", b'Basic realm="x"')]),
        content=b"",
    )
    return tflow.tflow(req=req, resp=resp, **kwargs)


def cycle(tctx: Any, a: AuthLens, f: http.HTTPFlow) -> None:
    """Run a flow through every hook, as mitmproxy does (pytest-asyncio is not required)."""
    tctx.master.event_loop.run_until_complete(tctx.cycle(a, f))


@pytest.fixture
def ctx_addon() -> Any:
    a, made = make_addon()
    with taddons.context(a) as tctx:
        tctx.configure(a)  # mitmproxy configures a freshly loaded script addon
        yield tctx, a, made


# --- options ------------------------------------------------------------------------------------


def test_defaults(ctx_addon: Any) -> None:
    tctx, _a, made = ctx_addon
    opts = tctx.options
    assert opts.authlens_filter == ""
    assert opts.authlens_redact is True
    assert opts.authlens_credentials == ""
    assert opts.authlens_no_retry_after == 30
    assert opts.authlens_max_tracked == 10_000
    assert opts.authlens_update_flowfile is True
    assert made and made[-1].config.no_retry_after == 30.0
    assert made[-1].config.max_tracked == 10_000


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("authlens_filter", "~q ~~~ (("),
        ("authlens_no_retry_after", -1),
        ("authlens_max_tracked", 0),
        ("authlens_credentials", "/nonexistent/creds.txt"),
    ],
)
def test_invalid_options_raise_options_error(ctx_addon: Any, option: str, value: Any) -> None:
    tctx, a, _ = ctx_addon
    with pytest.raises(exceptions.OptionsError):
        tctx.configure(a, **{option: value})


def test_options_rebuild_analyzer(ctx_addon: Any, tmp_path: Path) -> None:
    tctx, a, made = ctx_addon
    creds = tmp_path / "creds.txt"
    creds.write_text("# test users\nalice:wonder:land\n\nbob:\n")
    tctx.configure(a, authlens_credentials=str(creds), authlens_no_retry_after=1)
    config = made[-1].config
    assert dict(config.known_credentials) == {"alice": "wonder:land", "bob": ""}
    assert config.no_retry_after == 1.0


def test_credentials_file_errors_never_quote_content(tmp_path: Path) -> None:
    creds = tmp_path / "creds.txt"
    creds.write_text(f"{CANARY}\n")
    with pytest.raises(exceptions.OptionsError) as info:
        load_credentials(str(creds))
    assert "line 1" in str(info.value)
    assert CANARY not in str(info.value)


# --- annotations --------------------------------------------------------------------------------


def test_response_annotates_flow(ctx_addon: Any) -> None:
    tctx, a, made = ctx_addon
    f = flow_401()
    cycle(tctx, a, f)
    assert f.comment == "credentials-rejected: explained"
    assert f.marked == MARKER_ERROR
    meta = f.metadata["authlens"]
    assert meta["diagnoses"][0]["id"] == "credentials-rejected"
    assert meta["credentials"]["summary"]["password"].startswith("<redacted:sha256:")
    assert type(meta["credentials"]["summary"]["password"]) is str  # plain JSON, not Secret
    assert CANARY not in json.dumps(meta)
    assert made[-1].observed[0].id == f.id
    assert made[-1].observed[0].source == "live"


def test_redact_false_keeps_raw_metadata(ctx_addon: Any) -> None:
    tctx, a, _ = ctx_addon
    tctx.configure(a, authlens_redact=False)
    f = flow_401()
    cycle(tctx, a, f)
    assert f.metadata["authlens"]["credentials"]["summary"]["password"] == CANARY
    assert CANARY not in f.comment  # the comment is always redacted


def test_user_comment_is_kept_and_block_replaced(ctx_addon: Any) -> None:
    tctx, a, _made = ctx_addon
    f = flow_401()
    f.comment = "my note\nsecond line"
    cycle(tctx, a, f)
    assert f.comment == "my note\nsecond line\ncredentials-rejected: explained"
    # Re-annotation (a late verdict) replaces only authlens' block.
    a._apply([verdict(f.id, "no-retry", Severity.WARNING)], current=None)
    assert f.comment == "my note\nsecond line\nno-retry: explained"


def test_write_annotation_on_already_annotated_flow_from_file() -> None:
    # A flow file annotated by an earlier run: the old block is replaced, not duplicated.
    f = flow_401()
    first = addon_module.make_annotation(verdict(f.id, "missing-credentials", Severity.INFO))
    write_annotation(f, first)
    f.comment = "user text\n" + f.comment
    second = addon_module.make_annotation(verdict(f.id, "credentials-rejected", Severity.ERROR))
    assert write_annotation(f, second) is True
    assert f.comment == "user text\ncredentials-rejected: explained"
    assert write_annotation(f, second) is False  # idempotent


def test_user_marker_is_kept(ctx_addon: Any) -> None:
    tctx, a, _ = ctx_addon
    f = flow_401()
    f.marked = ":star:"
    cycle(tctx, a, f)
    assert f.marked == ":star:"
    assert f.comment.startswith("credentials-rejected")


def test_late_verdict_triggers_update_hook() -> None:
    a, made = make_addon()
    recorder = Recorder()
    with taddons.context(a, recorder) as tctx:
        tctx.configure(a)
        made[-1].explain_earlier = True
        first, second = flow_401(), flow_401()
        cycle(tctx, a, first)
        assert recorder.updates == []  # the current flow needs no update hook
        cycle(tctx, a, second)
        assert first.comment == "no-retry: explained"
        assert first.marked == ":warning:"
        assert recorder.updates == [[first]]


def test_done_applies_finish_verdicts() -> None:
    a, made = make_addon()
    recorder = Recorder()
    with taddons.context(a, recorder) as tctx:
        tctx.configure(a)
        f = flow_401()
        cycle(tctx, a, f)
        a.done()
        assert made[-1].finished == 1
        assert f.comment == "lockout-suspected: explained"
        assert recorder.updates == [[f]]


def test_metadata_saves_with_flowwriter(ctx_addon: Any, tmp_path: Path) -> None:
    tctx, a, _ = ctx_addon
    f = flow_401()
    f.comment = "mine"
    cycle(tctx, a, f)
    path = tmp_path / "out.mitm"
    with path.open("wb") as fo:
        FlowWriter(fo).add(f)
    with path.open("rb") as fo:
        (back,) = list(FlowReader(fo).stream())
    assert back.metadata["authlens"] == f.metadata["authlens"]
    assert back.comment == "mine\ncredentials-rejected: explained"
    assert back.marked == MARKER_ERROR


def test_no_traffic_byte_changes(ctx_addon: Any) -> None:
    tctx, a, _ = ctx_addon
    f = flow_401()
    f.metadata["proxyauth"] = ("alice", "secret")
    before = (f.request.get_state(), f.response.get_state())
    cycle(tctx, a, f)
    assert f.comment
    assert (f.request.get_state(), f.response.get_state()) == before


def test_non_candidates_cost_nothing(ctx_addon: Any) -> None:
    tctx, a, made = ctx_addon
    cycle(tctx, a, tflow.tflow(resp=True))
    assert made[-1].observed == []


def test_filter_selects_flows(ctx_addon: Any) -> None:
    tctx, a, made = ctx_addon
    tctx.configure(a, authlens_filter="~d example.test")
    other = flow_401()
    cycle(tctx, a, other)
    assert made[-1].observed == []
    assert other.comment == ""
    match = flow_401()
    match.request.host = "example.test"
    cycle(tctx, a, match)
    assert [e.id for e in made[-1].observed] == [match.id]


def test_proxy_made_response_is_noticed_in_request_hook(ctx_addon: Any) -> None:
    tctx, a, made = ctx_addon
    f = flow_401()
    # tctx.cycle runs `request` with the response already set, as proxyauth leaves it.
    cycle(tctx, a, f)
    observed = made[-1].observed[0]
    assert observed.response is not None and observed.response.generated_by_proxy is True
    g = flow_401()
    resp, g.response = g.response, None
    a.request(g)  # the request goes upstream ...
    g.response = resp  # ... and the server answers
    a.response(g)
    assert made[-1].observed[1].response.generated_by_proxy is False  # type: ignore[union-attr]


def test_http_connect_error_is_judged(ctx_addon: Any) -> None:
    _tctx, a, made = ctx_addon
    req = tutils.treq(method=b"CONNECT", host="example.test", port=443, scheme=b"", path=b"")
    f = tflow.tflow(req=req, resp=tutils.tresp(status_code=407, content=b""))
    a.http_connect_error(f)
    assert made[-1].observed[0].is_connect
    assert f.marked == MARKER_ERROR


def test_successful_connect_with_proxyauth_is_judged(ctx_addon: Any) -> None:
    # It settles the 407 before it: proxyauth deleted the field, the adapter restores it.
    _tctx, a, made = ctx_addon
    req = tutils.treq(method=b"CONNECT", host="example.test", port=443, scheme=b"", path=b"")
    f = tflow.tflow(req=req, resp=tutils.tresp(status_code=200, content=b""))
    a.http_connected(f)
    assert made[-1].observed == []  # nothing auth-related about it
    f.metadata["proxyauth"] = ("alice", "secret")
    a.http_connected(f)
    (observed,) = made[-1].observed
    assert observed.request.headers.get("Proxy-Authorization", "").startswith("Basic ")


def test_offline_flows_expire_on_capture_clock(ctx_addon: Any) -> None:
    tctx, a, made = ctx_addon
    f = flow_401(live=False)
    cycle(tctx, a, f)
    assert made[-1].observed[0].source == "flowfile"
    assert made[-1].expired == [f.response.timestamp_end]


def test_internal_errors_are_contained_and_quiet(
    ctx_addon: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tctx, a, made = ctx_addon
    made[-1].fail = True
    f = flow_401()
    with caplog.at_level(logging.INFO, logger="authlens"):
        cycle(tctx, a, f)  # must not raise
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "internal error in response hook (RuntimeError" in errors[0].getMessage()
    assert CANARY not in caplog.text.replace(errors[0].exc_text or "", "")
    assert f.comment == ""


@pytest.mark.parametrize("redact", [True, False])
def test_internal_error_details_quote_traffic_only_in_raw_mode(
    ctx_addon: Any, caplog: pytest.LogCaptureFixture, redact: bool
) -> None:
    """The debug record of an internal error has the frames for a bug report; the
    exception's message, which may quote traffic, only when raw output was asked for."""
    tctx, a, made = ctx_addon
    tctx.configure(a, authlens_redact=redact)
    made[-1].fail = True
    with caplog.at_level(logging.DEBUG, logger="authlens"):
        cycle(tctx, a, flow_401())
    details = [r for r in caplog.records if "internal error details" in r.getMessage()]
    assert len(details) == 1
    text = caplog.text
    assert "RuntimeError" in text and "test_addon.py" in text  # the frames are there
    assert (CANARY in text) is not redact


def test_one_log_line_per_diagnosis_without_secrets(
    ctx_addon: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tctx, a, _ = ctx_addon
    f = flow_401()
    f.request.path = "/api?access_token=" + CANARY
    with caplog.at_level(logging.INFO, logger="authlens"):
        cycle(tctx, a, f)
    lines = [r for r in caplog.records if r.name.startswith("authlens")]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    message = lines[0].getMessage()
    assert "401 GET http://address:22/api: credentials-rejected: explained" in message
    assert CANARY not in caplog.text


def test_lru_forgets_old_flows(ctx_addon: Any) -> None:
    tctx, a, _ = ctx_addon
    tctx.configure(a, authlens_max_tracked=2)
    flows = [flow_401() for _ in range(3)]
    for f in flows:
        cycle(tctx, a, f)
    assert list(a._tracked) == [flows[1].id, flows[2].id]


# --- lifecycle ----------------------------------------------------------------------------------


def test_contentview_registered_on_load_and_removed_on_done() -> None:
    a, _ = make_addon()
    with taddons.context(a):
        assert contentviews.registry["auth"] is auth_view
        a.done()
        assert "auth" not in contentviews.registry


def test_web_columns_gain_comment() -> None:
    a, _ = make_addon()
    with taddons.context(WebAddon(), a) as tctx:
        tctx.master.addons.invoke_addon_sync(a, RunningHook())
        assert "comment" in tctx.options.web_columns
        assert tctx.options.web_columns[:2] == ["tls", "icon"]
        a.done()


def test_web_columns_chosen_by_user_are_left_alone() -> None:
    a, _ = make_addon()
    with taddons.context(WebAddon(), a) as tctx:
        tctx.options.update(web_columns=["path", "status"])
        tctx.master.addons.invoke_addon_sync(a, RunningHook())
        assert tctx.options.web_columns == ["path", "status"]
        a.done()


def test_running_starts_and_done_stops_expiry(ctx_addon: Any) -> None:
    tctx, a, made = ctx_addon
    tctx.configure(a, authlens_no_retry_after=0)

    async def scenario() -> None:
        a.running()
        assert a._expire_task is not None
        await tctx.cycle(a, flow_401())  # a live flow: the periodic expiry now has work
        for _ in range(50):
            if made[-1].expired:
                break
            await asyncio.sleep(0.02)
        a.done()

    tctx.master.event_loop.run_until_complete(scenario())
    assert made[-1].expired
    assert a._expire_task is None


def test_done_rewrites_saved_file_with_late_verdicts(tmp_path: Path) -> None:
    a, _made = make_addon()
    saver = save.Save()
    path = tmp_path / "flows.mitm"
    with taddons.context(saver, a) as tctx:
        tctx.configure(a)
        tctx.configure(saver, save_stream_file=str(path))
        f = flow_401()
        f.comment = "mine"
        cycle(tctx, a, f)
        saver.response(f)  # mitmproxy's -w writes the flow when its response completes
        tctx.master.should_exit.set()
        a.done()
        saver.done()
    with path.open("rb") as fo:
        (back,) = list(FlowReader(fo).stream())
    assert back.comment == "mine\nlockout-suspected: explained"
    assert back.metadata["authlens"]["diagnoses"][0]["id"] == "lockout-suspected"


def test_done_on_script_reload_leaves_save_stream_open(tmp_path: Path) -> None:
    a, _ = make_addon()
    saver = save.Save()
    with taddons.context(saver, a) as tctx:
        tctx.configure(a)
        tctx.configure(saver, save_stream_file=str(tmp_path / "flows.mitm"))
        f = flow_401()
        cycle(tctx, a, f)
        saver.response(f)
        a.done()  # should_exit not set: a reload, not an exit
        assert saver.stream is not None
        saver.done()


def test_patch_flow_file_keeps_other_flows(tmp_path: Path) -> None:
    path = tmp_path / "flows.mitm"
    target, other = flow_401(), flow_401()
    with path.open("wb") as fo:
        writer = FlowWriter(fo)
        writer.add(other)
        writer.add(tflow.ttcpflow())
        writer.add(target)
    annotation = addon_module.make_annotation(verdict(target.id, "no-retry", Severity.WARNING))
    assert patch_flow_file(path, {target.id: annotation}) == 1
    with path.open("rb") as fo:
        back = list(FlowReader(fo).stream())
    assert [b.id for b in back] == [other.id, back[1].id, target.id]
    assert back[2].comment == "no-retry: explained"
    assert back[0].comment == ""
    assert [p.name for p in tmp_path.iterdir()] == ["flows.mitm"]  # no temp file left


@pytest.mark.parametrize("path", ["addon/authlens_addon.py", "addon/authlens/mitm/entry.py"])
def test_entry_scripts_hold_the_addons_in_order(path: str) -> None:
    with taddons.context() as tctx:
        module = tctx.script(str(ROOT / path))
        assert [type(x).__name__ for x in module.addons] == [
            "AuthLens",
            "AuthLensCompare",
            "AuthLensExport",
        ]
        for x in module.addons:
            x.done()


def test_entry_script_path_points_at_entry() -> None:
    from authlens.mitm import entry_script_path

    assert entry_script_path() == ROOT / "addon/authlens/mitm/entry.py"


def test_update_hook_is_not_dispatched_when_no_addon_listens() -> None:
    # mitmdump has no view: dispatching `update` would walk every addon for nothing.
    a, made = make_addon()
    with taddons.context(a) as tctx:
        tctx.configure(a)
        made[-1].explain_earlier = True
        first, second = flow_401(), flow_401()
        dispatched: list[Any] = []
        real_trigger = tctx.master.addons.trigger

        def trigger(event: Any) -> None:
            dispatched.append(event.name)
            real_trigger(event)

        tctx.master.addons.trigger = trigger  # type: ignore[method-assign]
        cycle(tctx, a, first)
        cycle(tctx, a, second)
        assert first.comment == "no-retry: explained"  # the late verdict is still written
        assert "update" not in dispatched


def test_log_records_nobody_prints_are_not_made(
    ctx_addon: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As under `mitmdump -q`: termlog passes errors only, add_log consumers do not count.
    tctx, a, _ = ctx_addon
    root = logging.getLogger()
    quiet = logging.Handler(logging.ERROR)
    monkeypatch.setattr(root, "handlers", [quiet])
    made: list[logging.LogRecord] = []
    monkeypatch.setattr(quiet, "handle", lambda record: made.append(record) or True)
    f = flow_401()
    cycle(tctx, a, f)
    assert f.comment  # annotated all the same
    assert made == []
    quiet.setLevel(logging.INFO)
    cycle(tctx, a, flow_401())
    assert [r.levelno for r in made] == [logging.WARNING]


def _hop(url: str, status: int, *, auth: str | None = None, location: str | None = None,
         t: float = 0.0) -> http.HTTPFlow:  # fmt: skip
    flow = tflow.tflow(resp=True)
    flow.request.url = url
    flow.request.headers.clear()
    flow.request.headers["User-Agent"] = "python-requests/2.32.3"
    if auth:
        flow.request.headers["Authorization"] = auth
    assert flow.response is not None
    flow.response.status_code = status
    flow.response.headers.clear()
    if location:
        flow.response.headers["Location"] = location
    if status == 401:
        flow.response.headers["WWW-Authenticate"] = 'Basic realm="c"'
    flow.request.timestamp_start = 1_700_000_000.0 + t
    flow.response.timestamp_end = 1_700_000_000.1 + t
    return flow


def test_credentials_dropped_over_a_two_hop_redirect_chain_are_found_live() -> None:
    # The middle hop carries no credentials and is not about authentication: the addon
    # must still hand it to the tracker, or the chain breaks (the engine alone found it).
    auth = "Basic " + base64.b64encode(b"alice:pw").decode()
    flows = [
        _hop("https://a.example/x", 302, auth=auth, location="https://b.example/y"),
        _hop("https://b.example/y", 302, location="https://c.example/z", t=1),
        _hop("https://c.example/z", 401, t=2),
    ]
    addon = AuthLens()
    with taddons.context(addon) as tctx:
        tctx.configure(addon)
        for flow in flows:
            addon.response(flow)
    assert (flows[2].comment or "").startswith("credentials-dropped-on-redirect: ")
    assert "https://a.example:443" in (flows[2].comment or "")


def test_revisions_decide_what_is_logged_and_rewritten(
    ctx_addon: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A late verdict whose revision equals the last one applied is a repeat: no log line,
    no rewrite, no update. A new revision is applied. The flow judged again by its own
    hook is compared by content (its response may be new), so a repeat stays quiet."""
    tctx, a, _ = ctx_addon
    f = flow_401()
    cycle(tctx, a, f)
    first = verdict(f.id, "credentials-rejected", Severity.ERROR)

    before = len(caplog.records)

    def lines() -> int:
        return len([r for r in caplog.records[before:] if r.name.startswith("authlens")])

    def apply(v: Verdict, current: http.HTTPFlow | None) -> http.HTTPFlow | None:
        return a._apply_one(v, current)

    with caplog.at_level(logging.INFO, logger="authlens"):
        revised = Verdict(f.id, first.metadata, "no-retry: explained", ":warning:", None, 7)
        assert apply(revised, None) is f and f.comment == "no-retry: explained"
        assert lines() == 1
        # The same revision again, even with other content: taken as the repeat it claims.
        f.comment = "edited by hand"
        repeat = Verdict(f.id, first.metadata, "lockout: explained", ":warning:", None, 7)
        assert apply(repeat, None) is None and f.comment == "edited by hand"
        assert lines() == 1
        newer = Verdict(f.id, first.metadata, "lockout: explained", MARKER_ERROR, None, 8)
        assert apply(newer, None) is f and f.comment.endswith("lockout: explained")
        assert lines() == 2
        # Its own hook again, same revision: compared by what would be written.
        assert apply(newer, f) is None and lines() == 2
        changed = Verdict(f.id, first.metadata, "other: explained", MARKER_ERROR, None, 8)
        apply(changed, f)
        assert f.comment.endswith("other: explained") and lines() == 3


def test_annotations_share_the_parts_the_engine_shares() -> None:
    """Flows refused alike carry one converted copy of the decoded parts (once a part came
    back: one converted for a single flow is not kept), and every annotation is still
    exactly the JSON round trip of its verdict."""
    from diagnose_helpers import T0, basic, exchange

    from authlens.diagnose import Analyzer
    from authlens.report import jsonout

    analyzer = Analyzer(AnalyzerConfig())
    fields = [("WWW-Authenticate", 'Basic realm="r", charset="UTF-8"'), ("Server", "s")]
    sent = [("Authorization", basic("u", CANARY))]
    verdicts = [
        analyzer.observe(exchange(id=i, headers=sent, response_headers=fields, t=T0 + n))[0]
        for n, i in enumerate(("a", "b", "c", "d"))
    ]
    for redact in (True, False):
        annotations = [addon_module.make_annotation(v, redact=redact) for v in verdicts]
        third, fourth = annotations[2:]
        for key in ("client", "refused_by", "credentials"):
            assert third.metadata[key] is fourth.metadata[key]
        assert third.metadata["challenges"][0] is fourth.metadata["challenges"][0]
        assert third.metadata["diagnoses"][0] is fourth.metadata["diagnoses"][0]
        for verdict, annotation in zip(verdicts, annotations, strict=True):
            expected = json.loads(jsonout.dumps(verdict.metadata, redact=redact, clean=True))
            assert annotation.metadata == {**expected, "comment": annotation.block}
        assert (CANARY in json.dumps(third.metadata)) is not redact


def test_repeated_options_are_settled_before_mitmproxy_applies_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """mitmproxy defers a --set for an option not declared yet; given twice, applying it
    fails and drops the script silently. The same value repeated is taken once; different
    values stay (mitmproxy refuses them) and are named, without their values."""
    from mitmproxy import exceptions, optmanager

    opts = optmanager.OptManager()
    opts.set(
        "authlens_redact=false",
        "authlens_redact=false",
        "authlens_filter=~h token-1",
        "authlens_filter=~h token-2",
        "other_option=1",
        "other_option=2",
        defer=True,
    )
    with caplog.at_level(logging.WARNING, logger=addon_module.logger.name):
        addon_module._settle_repeated_options(opts)
    opts.add_option("authlens_redact", bool, True, "")
    opts.process_deferred()
    assert opts.authlens_redact is False
    opts.add_option("authlens_filter", str, "", "")
    with pytest.raises(exceptions.OptionsError):
        opts.process_deferred()  # mitmproxy's own refusal, which the error line explains
    messages = [r.getMessage() for r in caplog.records]
    assert any("authlens_redact was given 2 times with the same value" in m for m in messages)
    assert any("authlens_filter was given 2 times with different values" in m for m in messages)
    assert not any("token-" in m or "other_option" in m for m in messages)
