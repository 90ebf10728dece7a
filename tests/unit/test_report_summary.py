"""The summary of judged flows: the counts a user sees in `analyze --json`, the HTML
overview and the terminal digest."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authlens import decode_credentials
from authlens.report import jsonout
from authlens.report.summary import (
    MAX_NAMES_PER_KIND,
    OTHER,
    UNKNOWN_ORIGIN,
    origin_of,
    render_terminal_summary,
    summarize,
)
from authlens.report.terminal import Style

CANARY = "c4n4ry-S3cret-pw"


def flow(
    url: str,
    status: int,
    *diagnoses: tuple[str, str],
    client: tuple[str, str] = ("automated", "curl/8.5.0"),
    refused_by: tuple[str, str] = ("origin", "nginx"),
) -> dict[str, Any]:
    return {
        "id": f"id-{url}-{status}",
        "method": "GET",
        "url": url,
        "status": status,
        "version": 1,
        "client": {"kind": client[0], "name": client[1], "evidence": []},
        "refused_by": {"kind": refused_by[0], "name": refused_by[1], "evidence": []},
        "challenges": [],
        "credentials": None,
        "diagnoses": [
            {
                "id": did,
                "severity": sev,
                "title": f"title of {did}",
                "explanation": "",
                "fix": "",
                "evidence": [],
                "confidence": 0.5,
                "references": [],
            }
            for did, sev in diagnoses
        ],
        "comparison": None,
    }


FLOWS = [
    flow(
        "https://api.example.com/a",
        401,
        ("credentials-rejected", "error"),
        ("missing-credentials", "info"),
    ),
    flow(
        "https://api.example.com:443/b",
        401,
        ("missing-credentials", "info"),
        ("credentials-rejected", "error"),
    ),
    flow(
        "http://proxy.example:8080/",
        407,
        ("proxy-auth-required", "warning"),
        client=("browser", "Chrome 131"),
        refused_by=("upstream-proxy", "Squid/5.7"),
    ),
    flow("https://api.example.com/c", 200),
]


def test_counts_per_origin_diagnosis_client_and_refusing_party() -> None:
    s = summarize(FLOWS)
    assert s["totals"] == {
        "flows": 4,
        "refused": 3,
        "with_diagnoses": 3,
        "by_worst_severity": {"error": 2, "warning": 1, "info": 0, "none": 1},
    }
    assert s["worst_severity"] == "error"
    assert s["statuses"] == {"401": 2, "200": 1, "407": 1}

    # The default port is dropped, so :443 and no port are one origin; worst first.
    assert list(s["origins"]) == ["https://api.example.com", "http://proxy.example:8080"]
    api = s["origins"]["https://api.example.com"]
    assert api["flows"] == 3 and api["refused"] == 2 and api["worst_severity"] == "error"
    assert api["diagnoses"] == {"credentials-rejected": 2, "missing-credentials": 2}

    # Diagnoses: worst severity first; "top" counts where it was ranked first.
    assert list(s["diagnoses"]) == [
        "credentials-rejected",
        "proxy-auth-required",
        "missing-credentials",
    ]
    assert s["diagnoses"]["credentials-rejected"] == {
        "severity": "error",
        "title": "title of credentials-rejected",
        "flows": 2,
        "top": 1,
    }
    assert s["diagnoses"]["missing-credentials"]["top"] == 1

    assert s["clients"] == {
        "automated": {"flows": 3, "names": {"curl/8.5.0": 3}},
        "browser": {"flows": 1, "names": {"Chrome 131": 1}},
    }
    assert s["refused_by"]["upstream-proxy"] == {"flows": 1, "names": {"Squid/5.7": 1}}


def test_summary_is_json_through_the_one_serializer() -> None:
    s = summarize(FLOWS)
    assert json.loads(jsonout.dumps(s)) == s


def test_empty_capture() -> None:
    s = summarize([])
    assert s["totals"]["flows"] == 0 and s["worst_severity"] is None
    assert s["origins"] == {} and s["diagnoses"] == {}
    assert "0 flows" in render_terminal_summary(s, Style(False))


def test_a_diagnosis_repeated_in_one_flow_counts_once() -> None:
    s = summarize([flow("https://x.example/", 401, ("no-retry", "error"), ("no-retry", "error"))])
    assert s["diagnoses"]["no-retry"]["flows"] == 1


def test_origin_never_keeps_userinfo_or_unusable_urls() -> None:
    assert origin_of(f"https://alice:{CANARY}@Host.Example:8443/x?y") == "https://host.example:8443"
    assert origin_of("http://[::1]:80/") == "http://[::1]"
    assert origin_of("javascript:alert(1)") == UNKNOWN_ORIGIN
    assert origin_of("http://host:99999/") == UNKNOWN_ORIGIN
    assert origin_of(None) == UNKNOWN_ORIGIN
    s = summarize([flow(f"https://u:{CANARY}@h.example/", 401)])
    assert CANARY not in json.dumps(s)


def test_distinct_names_are_capped() -> None:
    flows = [flow("https://x.example/", 401, client=("automated", f"bot/{i}")) for i in range(100)]
    names = summarize(flows)["clients"]["automated"]["names"]
    assert len(names) == MAX_NAMES_PER_KIND + 1
    assert names[OTHER] == 100 - MAX_NAMES_PER_KIND


def test_malformed_flows_count_as_unknown_and_never_raise() -> None:
    broken: list[Any] = [
        {},
        {"status": "401", "diagnoses": "nope", "client": [], "refused_by": {"kind": 3}},
        {"status": True, "diagnoses": [{"id": 5}, {"id": "x", "severity": "catastrophic"}]},
        "not a flow",
    ]
    s = summarize(broken)
    assert s["totals"]["flows"] == 4
    assert s["totals"]["refused"] == 1  # the string "401" counts
    assert s["diagnoses"]["x"]["severity"] == "info"  # an unknown severity is shown as info
    assert s["clients"]["unknown"]["flows"] == 4


def test_no_secret_reaches_the_summary() -> None:
    cred = decode_credentials("Basic " + base64.b64encode(f"alice:{CANARY}".encode()).decode())
    f = flow(f"https://h.example/?access_token={CANARY}", 401, ("credentials-rejected", "error"))
    f["credentials"] = cred.to_json()
    f["diagnoses"][0]["evidence"] = [cred.summary["password"]]
    s = summarize([f])
    text = jsonout.dumps(s) + render_terminal_summary(s, Style(True))
    assert CANARY not in text


def test_terminal_summary_reads_at_a_glance() -> None:
    text = render_terminal_summary(summarize(FLOWS), Style(False))
    lines = text.splitlines()
    assert lines[0] == "authlens summary: 4 flows, 3 refused (401/407), worst: error"
    assert "By diagnosis" in lines and "By origin" in lines and "By client" in lines
    assert "Refused by" in lines
    dx = next(line for line in lines if "credentials-rejected" in line and "✖" in line)
    assert "2 flows" in dx and "(first cause in 1)" in dx
    origin = next(line for line in lines if "https://api.example.com" in line)
    assert "3 flows" in origin and "401×2" in origin and "200×1" in origin
    assert any("automated" in line and "curl/8.5.0 ×3" in line for line in lines)
    assert "\x1b" not in text  # no colour when the style is off


def test_terminal_summary_colours_and_escapes() -> None:
    hostile = flow(
        "https://x.example/",
        401,
        ("evil\x1b[2Jid", "error"),
        client=("automated", "bot\x1b]0;pwned\x07"),
    )
    text = render_terminal_summary(summarize([hostile]), Style(True))
    assert "\x1b[31m" in text  # error in red
    assert "\x1b[2J" not in text and "\x1b]0;" not in text and "\x07" not in text
    assert "\\x1b[2J" in text


def test_terminal_summary_limits_long_sections() -> None:
    flows = [flow(f"https://h{i}.example/", 401, (f"dx-{i}", "warning")) for i in range(30)]
    text = render_terminal_summary(summarize(flows), Style(False))
    assert "… and 18 more" in text
    assert len(text.splitlines()) < 60


nasty = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            '"><script>alert(1)</script>',
            "\x1b[31m",
            "\x00",
            "\udcff",
            "\ud800",
            "𝔘\U000e0001",
            "javascript:alert(1)",
            "a" * 5000,
        ]
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty, inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["id", "method", "url", "status", "client", "refused_by", "diagnoses"])
            | nasty,
            json_values,
            max_size=8,
        ),
        max_size=5,
    )
)
def test_summarize_is_total_on_random_flows(flows: list[dict[str, Any]]) -> None:
    s = summarize(flows)
    assert s["totals"]["flows"] == len(flows)
    json.dumps(s)
    render_terminal_summary(s, Style(True)).encode("utf-8")
