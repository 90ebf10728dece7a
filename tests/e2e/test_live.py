"""End to end: real clients through a real mitmdump with authlens, to real loopback servers.

Assertions are on the flows mitmdump wrote with ``-w`` and this test reads back with
``mitmproxy.io.FlowReader``: comment, marker and ``metadata["authlens"]`` (DESIGN.md §3),
using the diagnosis IDs of DESIGN.md §5. The harness is in conftest.py.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.io import FlowWriter

from . import servers
from .conftest import (
    E2E,
    NO_RETRY_AFTER,
    PROXY_PASSWORD,
    ROOT,
    annotation,
    case_of,
    clean_env,
    diagnosis_ids,
    mitmdump_command,
    read_flow_file,
    run_offline,
    severities,
)

pytestmark = pytest.mark.e2e

ERROR, WARNING, INFO = ":no_entry:", ":warning:", ":key:"


def only(flows: list[http.HTTPFlow], status: int) -> http.HTTPFlow:
    matching = [f for f in flows if f.response is not None and f.response.status_code == status]
    assert matching, f"no {status} among {[_brief(f) for f in flows]}"
    return matching[-1]


def _brief(flow: http.HTTPFlow) -> str:
    status = flow.response.status_code if flow.response else "error"
    return f"{flow.request.method} {flow.request.path} -> {status} {diagnosis_ids(flow)}"


def assert_comment_lines_start_with_ids(flow: http.HTTPFlow) -> None:
    ids = diagnosis_ids(flow)
    lines = [line for line in flow.comment.splitlines() if line.strip()]
    assert lines, _brief(flow)
    for line in lines:
        assert any(line.startswith(i) for i in ids), (line, ids)
    assert lines[0].startswith(ids[0])  # top diagnosis first


def assert_ok(env: E2E, case: str, status: int | None = None) -> None:
    outcome = env.outcomes.get(case)
    assert outcome is not None, f"scenario {case} did not run"
    if status is not None:
        assert outcome.status == status, (case, outcome)


# --- the harness itself -------------------------------------------------------------------------


def test_proxies_stopped_cleanly(e2e: E2E) -> None:
    for proxy in (e2e.live, e2e.proxyauth, e2e.upstream, e2e.gate):
        assert proxy.returncode == 0, proxy.log()[-2000:]
        assert "internal error" not in proxy.log(), proxy.log()[-2000:]


def test_clients_saw_what_the_servers_said(e2e: E2E) -> None:
    expected = {
        "no-retry": 401,
        "basic-anyauth": 200,
        "basic-wrong": 401,
        "digest-md5": 200,
        "digest-sha256": 200,
        "digest-wrong": 401,
        "digest-stale": 401,
        "bearer-expired": 401,
        "bearer-invalid": 401,
        "bearer-scope": 403,
        "ntlm-ok": 200,
        "ntlm-close": 401,
        "iis": 401,
        "nochallenge": 401,
        "redirect": 401,
        "preflight-curl": 401,
        "proxyauth-none": 407,
        "proxyauth-anyauth": 200,
        "upstream-none": 407,
    }
    seen = {case: e2e.outcomes[case].status for case in expected if case in e2e.outcomes}
    assert seen == expected, {c: e2e.outcomes.get(c) for c in expected}


def test_e2e_suite_is_fast(e2e: E2E) -> None:
    assert e2e.seconds < 150, e2e.seconds


# --- one scenario each ----------------------------------------------------------------------


def test_successful_basic_handshake_is_info_only(e2e: E2E) -> None:
    flows = e2e.case("live", "basic-anyauth")
    assert [f.response.status_code for f in flows if f.response] == [401, 200]
    first = flows[0]
    assert annotation(first)["version"] == 1
    assert severities(first) <= {"info"}, _brief(first)
    assert first.marked == INFO
    assert "missing-credentials" in diagnosis_ids(first)
    assert "no-retry" not in diagnosis_ids(first)


def test_wrong_basic_password_is_rejected(e2e: E2E) -> None:
    refused = only(e2e.case("live", "basic-wrong"), 401)
    assert diagnosis_ids(refused)[0] == "credentials-rejected", _brief(refused)
    assert refused.marked == ERROR
    assert_comment_lines_start_with_ids(refused)
    meta = annotation(refused)
    assert meta["credentials"]["scheme"] == "Basic"
    assert meta["credentials"]["summary"]["user"] == "alice"
    assert str(meta["credentials"]["summary"]["password"]).startswith("<redacted:sha256:")
    assert meta["refused_by"]["kind"] == "origin"
    assert meta["client"]["kind"] == "automated"
    assert "python-requests" in meta["client"]["name"]
    assert meta["challenges"][0]["scheme"] == "Basic"


@pytest.mark.parametrize("case", ["digest-md5", "digest-sha256"])
def test_digest_handshakes_succeed_quietly(e2e: E2E, case: str) -> None:
    flows = e2e.case("live", case)
    assert [f.response.status_code for f in flows if f.response] == [401, 200]
    for f in flows:
        assert "error" not in severities(f), _brief(f)


def test_digest_wrong_password(e2e: E2E) -> None:
    flows = e2e.case("live", "digest-wrong")
    last = flows[-1]
    assert "Authorization" in last.request.headers
    assert "credentials-rejected" in diagnosis_ids(last), _brief(last)
    assert last.marked == ERROR


def test_digest_stale_nonce(e2e: E2E) -> None:
    flows = e2e.case("live", "digest-stale")
    stale = [f for f in flows if "stale=true" in f.response.headers.get("WWW-Authenticate", "")]
    assert len(stale) == 1, [_brief(f) for f in flows]
    assert "digest-stale-nonce" in diagnosis_ids(stale[0]), _brief(stale[0])
    assert "credentials-rejected" not in diagnosis_ids(stale[0])


@pytest.mark.parametrize(
    ("case", "status", "expected"),
    [
        ("bearer-expired", 401, "token-expired"),
        ("bearer-invalid", 401, "invalid-token"),
        ("bearer-scope", 403, "insufficient-scope"),
    ],
)
def test_bearer_errors(e2e: E2E, case: str, status: int, expected: str) -> None:
    refused = only(e2e.case("live", case), status)
    assert expected in diagnosis_ids(refused), _brief(refused)
    assert_comment_lines_start_with_ids(refused)


def test_ntlm_on_one_connection_is_fine(e2e: E2E) -> None:
    flows = e2e.case("live", "ntlm-ok")
    assert [f.response.status_code for f in flows if f.response][-2:] == [401, 200]
    assert len({f.client_conn.id for f in flows}) == 1
    assert len({f.server_conn.id for f in flows}) == 1
    for f in flows:
        assert "connection-auth-broken" not in diagnosis_ids(f), _brief(f)
        assert "error" not in severities(f), _brief(f)


def test_ntlm_split_across_connections(e2e: E2E) -> None:
    flows = e2e.case("live", "ntlm-close")
    assert len(flows) == 2, [_brief(f) for f in flows]
    type2, type3 = flows
    assert type2.response.headers.get("Connection", "").lower() == "close"
    assert type2.client_conn.id != type3.client_conn.id
    assert "connection-auth-broken" in diagnosis_ids(type3), _brief(type3)
    assert type3.marked == ERROR


def test_iis_substatus(e2e: E2E) -> None:
    refused = only(e2e.case("live", "iis"), 401)
    assert "iis-substatus" in diagnosis_ids(refused), _brief(refused)
    assert annotation(refused)["refused_by"]["name"] == "Microsoft-IIS/10.0"


def test_missing_challenge(e2e: E2E) -> None:
    refused = only(e2e.case("live", "nochallenge"), 401)
    assert diagnosis_ids(refused)[0] == "missing-challenge", _brief(refused)


def test_credentials_dropped_on_redirect(e2e: E2E) -> None:
    flows = e2e.case("live", "redirect")
    assert [f.response.status_code for f in flows if f.response] == [302, 401]
    before, after = flows
    assert "Authorization" in before.request.headers
    assert after.request.host == "127.0.0.2"
    assert "Authorization" not in after.request.headers
    assert "credentials-dropped-on-redirect" in diagnosis_ids(after), _brief(after)


def test_preflight_from_curl(e2e: E2E) -> None:
    refused = only(e2e.case("live", "preflight-curl"), 401)
    assert refused.request.method == "OPTIONS"
    assert diagnosis_ids(refused)[0] == "preflight-requires-auth", _brief(refused)


def test_preflight_from_chromium(e2e: E2E) -> None:
    if e2e.chromium_skip:
        pytest.skip(e2e.chromium_skip)
    outcome = e2e.outcomes["chromium"]
    assert outcome.error is None, outcome.error
    flows = e2e.case("live", "chromium")
    preflight = [f for f in flows if f.request.method == "OPTIONS"]
    assert len(preflight) == 1, [_brief(f) for f in flows]
    assert preflight[0].request.host == "127.0.0.2"
    assert "preflight-requires-auth" in diagnosis_ids(preflight[0]), _brief(preflight[0])
    assert "Chrome" in annotation(preflight[0])["client"]["name"]
    # Chromium's own chatter never left loopback.
    for f in e2e.flows["live"]:
        if not f.request.host.startswith("127."):
            assert f.response is not None and f.response.status_code == 502


def test_no_retry_reaches_the_flow_file(e2e: E2E) -> None:
    # Decided by the periodic expiry NO_RETRY_AFTER seconds after the 401, i.e. after -w
    # had written the flow: it is in the file because the addon rewrote it at exit.
    assert NO_RETRY_AFTER <= 1
    refused = only(e2e.case("live", "no-retry"), 401)
    assert "no-retry" in diagnosis_ids(refused), _brief(refused)
    assert refused.comment.splitlines()[0].split(":")[0] in diagnosis_ids(refused)
    assert "updated" in e2e.live.log() and "late diagnoses" in e2e.live.log()


# --- who refused ------------------------------------------------------------------------------


def test_refused_by_mitmproxy(e2e: E2E) -> None:
    refused = only(e2e.case("proxyauth", "proxyauth-none"), 407)
    assert "refused-by-mitmproxy" in diagnosis_ids(refused), _brief(refused)
    assert annotation(refused)["refused_by"]["kind"] == "mitmproxy"
    assert refused.marked in (ERROR, WARNING)


def test_proxy_authentication_answered(e2e: E2E) -> None:
    flows = e2e.case("proxyauth", "proxyauth-anyauth")
    assert [f.response.status_code for f in flows if f.response] == [407, 200]
    # proxyauth deletes the accepted Proxy-Authorization; authlens still sees the retry.
    assert "no-retry" not in diagnosis_ids(flows[0]), _brief(flows[0])


def test_connect_refused_by_mitmproxy_is_logged(e2e: E2E) -> None:
    # mitmproxy's -w never saves CONNECT flows: the log line is where this shows up.
    lines = [line for line in e2e.proxyauth.log().splitlines() if "authlens: 407 CONNECT" in line]
    assert lines, e2e.proxyauth.log()[-2000:]
    assert "refused-by-mitmproxy" in lines[0] or "proxy-auth-required" in lines[0]


def test_refused_by_upstream_proxy(e2e: E2E) -> None:
    refused = only(e2e.case("upstream", "upstream-none"), 407)
    ids = diagnosis_ids(refused)
    assert "proxy-auth-required" in ids, _brief(refused)
    assert "refused-by-mitmproxy" not in ids
    assert annotation(refused)["refused_by"]["kind"] == "upstream-proxy"


def test_upstream_refuses_connect(e2e: E2E) -> None:
    # HTTPS through an upstream proxy: mitmproxy answers the client's CONNECT itself, then
    # its own CONNECT to the upstream gets 407. mitmproxy turns that into the error of the
    # request inside the tunnel; the upstream's Proxy-Authenticate is lost.
    (flow,) = e2e.case("upstream", "upstream-connect")
    assert flow.response is None and flow.error is not None
    assert "407" in flow.error.msg
    assert "proxy-auth-required" in diagnosis_ids(flow), _brief(flow)
    assert annotation(flow)["refused_by"]["kind"] == "upstream-proxy"


# --- secrets ----------------------------------------------------------------------------------


def _secrets(e2e: E2E) -> list[str]:
    basic = f"{servers.BASIC_USER}:{servers.BASIC_PASSWORD}"
    out = [
        servers.BASIC_PASSWORD,
        base64.b64encode(basic.encode()).decode(),
        servers.NTLM_PASSWORD,
        PROXY_PASSWORD + "\n",  # "secret" is too common a word alone; the token below is not
        base64.b64encode(f"alice:{PROXY_PASSWORD}".encode()).decode(),
    ]
    out += e2e.outcomes["bearer-tokens"].extra["tokens"]
    return out


def test_no_secret_in_comments_metadata_or_logs(e2e: E2E) -> None:
    texts: list[tuple[str, str]] = []
    for name in ("live", "proxyauth", "upstream"):
        for f in e2e.flows[name]:
            meta = dict(f.metadata)
            meta.pop("proxyauth", None)  # mitmproxy's own, in the clear (not authlens')
            texts.append((f"{name} {_brief(f)} comment", f.comment))
            texts.append((f"{name} {_brief(f)} metadata", json.dumps(meta, default=str)))
        texts.append((f"{name} log", getattr(e2e, name).log()))
    for secret in _secrets(e2e):
        for where, text in texts:
            assert secret not in text, where


def test_log_has_one_line_per_judged_flow(e2e: E2E) -> None:
    log = e2e.live.log()
    port = e2e.main.port
    assert f"authlens: 401 GET http://127.0.0.1:{port}/basic: credentials-rejected" in log
    assert "?case=" not in "\n".join(line for line in log.splitlines() if "authlens:" in line)


def test_installed_entry_script(e2e: E2E) -> None:
    # `mitmdump -s "$(python -m authlens --script)"`, with authlens importable as after
    # `pip install` (PYTHONPATH stands in for the install).
    env = {**clean_env(), "PYTHONPATH": str(ROOT / "addon")}
    script = subprocess.run(
        [sys.executable, "-m", "authlens", "--script"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(script) == ROOT / "addon" / "authlens" / "mitm" / "entry.py"
    live = [f for f in e2e.flows["live"] if case_of(f) == "nochallenge"]
    source = _raw_copy(live, e2e.workdir / "entry-in.mitm")
    out = e2e.workdir / "entry-out.mitm"
    done = subprocess.run(
        [*mitmdump_command(), "-n", "-r", str(source), "-s", script, "-w", str(out),
         "--set", f"confdir={e2e.workdir / 'conf-entry'}"],
        env=env, capture_output=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-2000:]
    (flow,) = read_flow_file(out)
    assert "missing-challenge" in diagnosis_ids(flow)


# --- offline: the same judgement from recorded flows --------------------------------------------


def _raw_copy(flows: list[http.HTTPFlow], path: Path) -> Path:
    """The capture as it was before authlens: annotations stripped."""
    with path.open("wb") as fo:
        writer = FlowWriter(fo)
        for original in flows:
            f = http.HTTPFlow.from_state(original.get_state())  # same id, unlike .copy()
            f.comment = ""
            f.marked = ""
            f.metadata.pop("authlens", None)
            writer.add(f)
    return path


def _judged(flows: list[http.HTTPFlow]) -> dict[str, list[str]]:
    return {f.id: diagnosis_ids(f) for f in flows if annotation(f)}


_FINGERPRINT = re.compile(r"<redacted:sha256:[0-9a-f]+>")


_NO_RETRY_WHEN = re.compile(r"within \d+ s|by the end of the capture")


def _comparable(comment: str) -> str:
    # Fingerprints are keyed per process (DESIGN §6): equal within a run, not across runs.
    # Whether no-retry was settled by its timer or at the end of the run depends on how
    # fast the live run ended on a loaded machine; the diagnosis is the same.
    return _NO_RETRY_WHEN.sub("<when>", _FINGERPRINT.sub("<redacted>", comment))


def test_offline_flow_file_is_judged_like_live(e2e: E2E) -> None:
    live = [f for f in e2e.flows["live"] if case_of(f) and case_of(f) != "chromium"]
    raw = _raw_copy(live, e2e.workdir / "raw.mitm")
    annotated, log = run_offline(e2e.workdir, raw, "offline")
    assert len(annotated) == len(live)
    assert _judged(annotated) == _judged(live), log[-3000:]
    by_id = {f.id: f for f in annotated}
    for f in live:
        assert _comparable(by_id[f.id].comment) == _comparable(f.comment), _brief(f)
        assert by_id[f.id].marked == f.marked, _brief(f)


def test_offline_reannotation_does_not_duplicate(e2e: E2E) -> None:
    # The annotated -w file in again: every block replaced in place, none stacked.
    live = [f for f in e2e.flows["live"] if case_of(f) and case_of(f) != "chromium"]
    path = e2e.workdir / "annotated-in.mitm"
    with path.open("wb") as fo:
        writer = FlowWriter(fo)
        for f in live:
            writer.add(f)
    again, _ = run_offline(e2e.workdir, path, "again")
    assert [_comparable(f.comment) for f in again] == [_comparable(f.comment) for f in live]


def test_offline_har(e2e: E2E) -> None:
    live = [f for f in e2e.flows["live"] if case_of(f) in ("basic-wrong", "iis", "nochallenge")]
    stripped = read_flow_file(_raw_copy(live, e2e.workdir / "har-src.mitm"))
    har = SaveHar().make_har(stripped)
    path = e2e.workdir / "capture.har"
    path.write_text(json.dumps(har))
    annotated, log = run_offline(e2e.workdir, path, "from-har")
    assert len(annotated) == len(live), log[-3000:]
    by_case: dict[str | None, list[Any]] = {}
    for f in annotated:
        by_case.setdefault(case_of(f), []).append(diagnosis_ids(f))
    assert any("credentials-rejected" in ids for ids in by_case["basic-wrong"]), by_case
    assert any("iis-substatus" in ids for ids in by_case["iis"]), by_case
    assert any("missing-challenge" in ids for ids in by_case["nochallenge"]), by_case
