"""Browser versus script comparison (authlens.compare) on model exchanges.

Header sets are what the clients really send (Chrome 131's fetch(), python-requests'
defaults); the servers' refusal texts are the common ones. The e2e test
(tests/e2e/test_compare_real.py) runs the same claims against real clients.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from diagnose_helpers import T0, basic, exchange, jwt_bearer
from hypothesis import given, settings
from hypothesis import strategies as st

from authlens.bisect import BisectResult
from authlens.compare import (
    BODY,
    CAT_BOT_COOKIE,
    CAT_SESSION_COOKIE,
    CAT_TOKEN_COOKIE,
    CAT_TRACKING_COOKIE,
    COOKIE,
    CREDENTIALS,
    EXTRA,
    HEADER,
    MISSING,
    PROTOCOL,
    QUERY,
    TLS,
    Comparison,
    Difference,
    compare,
    compare_captures,
    cookie_category,
    explain,
    parse_cookies,
)
from authlens.model import Connection, Exchange

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
URL = "https://app.example/api/profile"
SESSION = "s3ss10n-Value-0123456789abcdef"
CSRF = "csrf-T0ken-abcdef0123456789"


def chrome_headers(
    *extra: tuple[str, str], referer: str = "https://app.example/"
) -> list[tuple[str, str]]:
    """What Chrome 131 sends for a same-origin fetch() over https, plus ``extra``."""
    return [
        ("Host", "app.example"),
        ("sec-ch-ua-platform", '"Windows"'),
        ("User-Agent", CHROME_UA),
        ("sec-ch-ua", '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
        ("sec-ch-ua-mobile", "?0"),
        ("Accept", "*/*"),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Dest", "empty"),
        ("Referer", referer),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Accept-Language", "en-US,en;q=0.9"),
        *extra,
    ]


def requests_headers(
    *extra: tuple[str, str], ua: str = "python-requests/2.32.3"
) -> list[tuple[str, str]]:
    return [
        ("Host", "app.example"),
        ("User-Agent", ua),
        ("Accept-Encoding", "gzip, deflate"),
        ("Accept", "*/*"),
        ("Connection", "keep-alive"),
        *extra,
    ]


def browser_ok(
    *extra: tuple[str, str],
    url: str = URL,
    method: str = "GET",
    id: str = "b1",
    t: float = T0,
    **kw: Any,
) -> Exchange:
    return exchange(
        url, id=id, method=method, headers=chrome_headers(*extra), status=200, t=t, **kw
    )


def script(
    *extra: tuple[str, str],
    url: str = URL,
    method: str = "GET",
    status: int = 401,
    body: bytes = b"",
    id: str = "a1",
    ua: str = "python-requests/2.32.3",
    response_headers: Iterable[tuple[str, str]] = (),
    t: float = T0 + 60,
    **kw: Any,
) -> Exchange:
    return exchange(
        url,
        id=id,
        method=method,
        headers=requests_headers(*extra, ua=ua),
        status=status,
        body=body,
        response_headers=response_headers,
        t=t,
        **kw,
    )


def top(comparison: Comparison) -> Difference:
    assert comparison.differences, comparison.headline
    return comparison.differences[0]


def ids(comparison: Comparison) -> list[str]:
    return [d.id for d in comparison.diagnoses]


def assert_no_raw(comparison: Comparison, *raw: str) -> None:
    text = json.dumps([comparison.to_json(), comparison.diagnoses_json()]) + repr(comparison)
    for value in raw:
        assert value not in text


# --- the decisive difference, per kind of server --------------------------------------------


def test_missing_session_cookie() -> None:
    browser = browser_ok(("Cookie", f"_ga=GA1.1.1.2; sessionid={SESSION}; theme=dark"))
    refused = script(body=b'{"error": "login required"}')
    c = compare(browser, refused)
    first = top(c)
    assert (first.kind, first.name, first.change) == (COOKIE, "sessionid", MISSING)
    assert first.decisive and first.category == CAT_SESSION_COOKIE
    assert first.browser is not None and first.browser.startswith("<redacted:sha256:")
    assert first.automated is None
    assert ids(c) == ["missing-session-cookie"]
    assert c.headline == (
        "The browser sent the session cookie 'sessionid' that the script "
        "(python-requests/2.32) lacked; the server most likely needs it."
    )
    assert "The refusal mentions 'login'." in first.explanation
    tracking = [d for d in c.differences if d.name in ("_ga", "theme")]
    assert tracking and all(d.weight < 0.1 and not d.decisive for d in tracking)
    assert_no_raw(c, SESSION)


def test_missing_csrf_header_outranks_a_different_session() -> None:
    browser = browser_ok(
        ("Origin", "https://app.example"),
        ("Content-Type", "application/json"),
        ("X-CSRF-Token", CSRF),
        ("Cookie", f"sessionid={SESSION}"),
        method="POST",
        request_body=b'{"text": "hi"}',
    )
    refused = script(
        ("Content-Type", "application/json"),
        ("Cookie", "sessionid=another-session-0123456789abcdef"),
        method="POST",
        status=403,
        body=b"Forbidden: CSRF token missing or incorrect.",
        request_body=b'{"text": "hi"}',
    )
    c = compare(browser, refused)
    assert (top(c).kind, top(c).name) == (HEADER, "X-CSRF-Token")
    assert ids(c) == ["missing-csrf-token"]
    assert "anti-CSRF token header 'X-CSRF-Token'" in c.headline
    session = next(d for d in c.differences if d.name == "sessionid")
    assert session.change == "differs" and not session.decisive
    origin = next(d for d in c.differences if d.name == "Origin")
    assert origin.weight > 0.4  # a POST without Origin matters more than a GET's
    assert_no_raw(c, CSRF, SESSION)


def test_missing_csrf_form_field() -> None:
    form = "application/x-www-form-urlencoded"
    browser = browser_ok(
        ("Content-Type", form),
        method="POST",
        request_body=f"amount=5&csrfmiddlewaretoken={CSRF}".encode(),
    )
    refused = script(("Content-Type", form), method="POST", status=403, request_body=b"amount=5")
    c = compare(browser, refused)
    assert (top(c).kind, top(c).name) == (BODY, "csrfmiddlewaretoken")
    assert ids(c) == ["missing-csrf-token"]
    assert_no_raw(c, CSRF)


def test_user_agent_of_a_script() -> None:
    refused = script(body=b"Access denied: automated clients are not allowed. Use a web browser.")
    c = compare(browser_ok(), refused)
    first = top(c)
    assert (first.kind, first.name) == (HEADER, "User-Agent")
    assert first.details == (("client", "Chrome 131", "python-requests/2.32"),)
    assert ids(c) == ["client-fingerprint-rejected"]
    assert c.headline.startswith("The browser identified itself as Chrome 131 while the script")
    assert "'python-requests/2.32.3'" in c.headline
    fingerprint = c.diagnoses[0]
    assert (
        "User-Agent python-requests/2.32 instead of Chrome 131" in fingerprint.slots["differences"]
    )


def test_fetch_metadata_without_hints_and_client_hints_with_them() -> None:
    plain = compare(browser_ok(), script(status=403, body=b"Forbidden", ua=CHROME_UA))
    assert top(plain).name == "Sec-Fetch-Site"
    assert "'Sec-Fetch-Site' (same-origin)" in plain.headline
    # Both are close when the refusal says nothing: both are marked, the headline says so.
    assert [d.name for d in plain.decisive] == ["Sec-Fetch-Site", "sec-ch-ua"]
    assert "(or header 'sec-ch-ua')" in plain.headline
    hinted = compare(
        browser_ok(),
        script(body=b"Unsupported client: client hints required.", ua=CHROME_UA),
    )
    assert top(hinted).name == "sec-ch-ua"
    assert [d.name for d in hinted.decisive] == ["sec-ch-ua"]
    assert ids(hinted) == ["client-fingerprint-rejected"]
    # The script copied the browser's User-Agent: no difference there at all.
    assert not any(d.name == "User-Agent" for d in hinted.differences)


def test_bot_management_cookie() -> None:
    browser = browser_ok(("Cookie", "cf_clearance=Abc123-very-long-clearance-token"))
    refused = script(
        status=403,
        ua=CHROME_UA,
        body=b"Just a moment...",
        response_headers=[("cf-mitigated", "challenge")],
    )
    c = compare(browser, refused)
    assert (top(c).kind, top(c).name) == (COOKIE, "cf_clearance")
    assert top(c).category == CAT_BOT_COOKIE
    assert ids(c) == ["client-fingerprint-rejected"]


# --- credentials ------------------------------------------------------------------------------


def test_expired_token_against_the_browsers_fresh_one() -> None:
    fresh = jwt_bearer(sub="alice", exp=T0 + 3600, scope="read write", aud="api")
    stale = jwt_bearer(sub="alice", exp=T0 - 7200, scope="read", aud="api")
    challenge = 'Bearer error="invalid_token", error_description="The token expired"'
    c = compare(
        browser_ok(("Authorization", fresh)),
        script(("Authorization", stale), response_headers=[("WWW-Authenticate", challenge)]),
    )
    first = top(c)
    assert (first.kind, first.name) == (CREDENTIALS, "Authorization")
    assert first.browser is not None and first.browser.startswith("Bearer <redacted:sha256:")
    details = {name: (b, a) for name, b, a in first.details}
    assert details["jwt.scope"] == ("read write", "read")
    browser_exp, script_exp = details["jwt.exp"]
    assert browser_exp is not None and script_exp is not None and script_exp < browser_exp
    assert ids(c) == ["token-expired"]
    assert c.diagnoses[0].slots["delta"] == "2 h 1 min"
    assert c.headline.startswith("The script's token expired at ")
    assert_no_raw(c, fresh.split()[1], stale.split()[1])


def test_scheme_mismatch() -> None:
    c = compare(
        browser_ok(("Authorization", jwt_bearer(sub="alice", exp=T0 + 3600))),
        script(
            ("Authorization", basic("alice", "secret")),
            response_headers=[("WWW-Authenticate", 'Bearer realm="api"')],
        ),
    )
    assert ids(c) == ["scheme-mismatch"]
    assert c.diagnoses[0].slots == {"sent": "Basic", "asker": "the server", "offered": "Bearer"}
    assert "authenticated with Bearer while the script" in c.headline
    rendered = c.diagnoses_json()[0]
    assert rendered["id"] == "scheme-mismatch" and "Basic" in rendered["explanation"]


def test_missing_credentials() -> None:
    token = jwt_bearer(sub="alice", exp=T0 + 3600)
    c = compare(
        browser_ok(("Authorization", token)),
        script(response_headers=[("WWW-Authenticate", 'Bearer realm="api"')]),
    )
    assert (top(c).kind, top(c).change) == (CREDENTIALS, MISSING)
    assert "sent Authorization credentials that the script" in c.headline
    assert "client-fingerprint-rejected" not in ids(c)


def test_same_credentials_different_client() -> None:
    creds = basic("alice", "wonderland")
    c = compare(
        browser_ok(("Authorization", creds)),
        script(("Authorization", creds), body=b"Bots are not welcome"),
    )
    assert not any(d.kind == CREDENTIALS for d in c.differences)
    assert ids(c) == ["client-fingerprint-rejected"]
    assert_no_raw(c, creds.split()[1])


# --- no false alarms ----------------------------------------------------------------------------


def test_both_accepted_is_no_alarm() -> None:
    c = compare(browser_ok(), script(status=200))
    assert not c.refused and not c.alarm
    assert c.decisive == [] and c.diagnoses == ()
    assert c.headline == "Both requests were accepted; no difference needs explaining."
    assert c.differences  # still listed, never judged


def test_nothing_decisive_when_only_noise_differs() -> None:
    headers = chrome_headers(("Cookie", "_ga=GA1.1.5"))
    browser = exchange(URL, id="b1", headers=headers, status=200)
    refused = exchange(URL, id="a1", headers=chrome_headers(("Cookie", "_ga=GA1.1.6")), status=401)
    c = compare(browser, refused)
    assert c.refused and not c.alarm
    assert c.headline.startswith("No difference between the browser's and the script's requests")


def test_refused_baseline_is_not_a_baseline() -> None:
    c = compare(exchange(URL, id="b1", headers=chrome_headers(), status=401), script())
    assert not c.alarm
    assert "not accepted either" in c.headline


def test_explain_pairs_and_compares() -> None:
    browser = browser_ok(("Cookie", f"sessionid={SESSION}"))
    refused = script()
    other = browser_ok(url="https://app.example/other", id="b2")
    c = explain(refused, [other, browser, refused])
    assert c is not None and c.baseline == "b1"
    assert explain(script(status=200), [browser]) is None
    assert explain(refused, [other]) is None


def test_compare_captures_pairs_each_refusal_once() -> None:
    browser_side = [
        browser_ok(
            ("Cookie", f"sessionid={SESSION}"), url="https://app.example/api/orders/1", id="b1"
        ),
        browser_ok(url="https://app.example/api/users/9", id="b2"),
        exchange("https://app.example/api/orders/2", id="b3", headers=chrome_headers(), status=401),
    ]
    automated_side = [
        script(url="https://app.example/api/orders/77", id="a1"),  # pairs with b1 (normalised)
        script(url="https://app.example/api/users/5", id="a2", status=403),  # with b2
        script(url="https://app.example/api/other", id="a3"),  # no baseline
        script(url="https://app.example/api/users/5", id="a4", status=200),  # not refused
    ]
    found = compare_captures(browser_side, automated_side)
    assert list(found) == ["a1", "a2"]
    assert found["a1"].baseline == "b1" and top(found["a1"]).name == "sessionid"
    assert found["a2"].baseline == "b2"
    # One capture holding both kinds of client: compared within it.
    both = browser_side + automated_side
    assert list(compare_captures(both, both)) == ["a1", "a2"]


# --- sanitized HAR ---------------------------------------------------------------------------------


def test_sanitized_har_is_blind_and_does_not_blame_the_user_agent() -> None:
    browser = browser_ok(("Cookie", ""), source="har", sanitized=("Cookie",))
    refused = script(body=b'{"error": "login required"}')
    c = compare(browser, refused)
    assert c.blind == ("cookie",)
    assert "har-sanitized" in ids(c)
    assert c.diagnoses[0].confidence == 1.0
    assert not any(d.kind == COOKIE for d in c.differences)
    assert c.decisive == []
    assert "sanitized on export" in c.headline
    assert any("blind there" in n for n in c.notes)


def test_sanitized_but_the_refusal_names_what_we_can_see() -> None:
    browser = browser_ok(("Cookie", ""), source="har")
    refused = script(body=b"Automated clients are not allowed; use a web browser.")
    c = compare(browser, refused)
    assert c.blind == ("cookie",)
    assert ids(c)[0] == "har-sanitized" and c.diagnoses[0].confidence == 0.8  # inferred
    assert top(c).name == "User-Agent" and top(c).decisive


def test_sanitized_siblings_make_the_baseline_blind() -> None:
    # Chrome drops Cookie whole; on a fetch() entry without headersSize nothing shows it,
    # but the login entry of the same export lost its Set-Cookie.
    browser = browser_ok(source="har")
    login = exchange(
        "https://app.example/login", id="b0", method="POST", status=303, source="har",
        sanitized=("Set-Cookie",), t=T0 - 5,
    )  # fmt: skip
    refused = script(body=b'{"error": "login required"}')
    assert compare(browser, refused).blind == ()
    c = compare(browser, refused, history=[login])
    assert c.blind == ("cookie",) and c.decisive == []


# --- state, protocol, TLS, query ------------------------------------------------------------------


def test_state_note_names_the_login_that_set_the_cookie() -> None:
    login = exchange(
        "https://app.example/login", id="login-flow-1", method="POST", status=303,
        headers=chrome_headers(), response_headers=[("Set-Cookie", f"sessionid={SESSION}; HttpOnly")],
        t=T0 - 10,
    )  # fmt: skip
    browser = browser_ok(("Cookie", f"sessionid={SESSION}"))
    c = compare(browser, script(), history=[login, browser])
    note = c.notes[0]
    assert "state a clean browser would not have" in note
    assert "'sessionid' from POST /login (303, flow login-fl)" in note
    assert any("from POST /login" in e for e in c.diagnoses[0].evidence)


def test_header_order_case_http_version_and_tls() -> None:
    browser = exchange(
        URL, id="b1", status=200, http_version="HTTP/2.0",
        headers=[(k.lower(), v) for k, v in chrome_headers()],
        client=Connection(id="c1", tls=True, alpn="h2", tls_fingerprint="t13d1516h2_8daaf6152771_e5627efa2ab1"),
    )  # fmt: skip
    refused = script(
        client=Connection(id="c2", tls=True, alpn="http/1.1", tls_fingerprint="t13d1811h1_85036bcba153_b26ce05bbdd6"),
    )  # fmt: skip
    c = compare(browser, refused)
    kinds = {(d.kind, d.name) for d in c.differences}
    assert {
        (PROTOCOL, "HTTP version"),
        (PROTOCOL, "header order"),
        (TLS, "TLS fingerprint"),
        (TLS, "ALPN"),
    } <= kinds
    for d in c.differences:
        if d.kind in (PROTOCOL, TLS):
            assert not d.replayable and d.weight < 0.1
    assert any("mitmproxy's TLS" in n for n in c.notes)


def test_header_case_on_http1() -> None:
    browser = exchange(
        URL, id="b1", status=200, headers=[("user-agent", CHROME_UA), ("accept", "*/*")]
    )
    refused = exchange(
        URL, id="a1", status=401, headers=[("User-Agent", CHROME_UA), ("Accept", "*/*")]
    )
    c = compare(browser, refused)
    case = next(d for d in c.differences if d.name == "header case")
    assert case.browser == "accept, user-agent"


def test_har_side_skips_order_and_case() -> None:
    c = compare(browser_ok(source="har"), script())
    assert not any(d.name in ("header order", "header case") for d in c.differences)
    assert any("HAR files do not keep them" in n for n in c.notes)


def test_query_differences_redact_secret_values() -> None:
    browser = browser_ok(url=URL + "?token=Abc123secretToken999&page=2&_=1700")
    refused = script(url=URL + "?page=3&_=1800")
    c = compare(browser, refused)
    token = next(d for d in c.differences if d.kind == QUERY and d.name == "token")
    assert token.change == MISSING and token.weight >= 0.7
    assert token.browser is not None and token.browser.startswith("<redacted:")
    buster = next(d for d in c.differences if d.name == "_")
    assert buster.weight < 0.05
    assert_no_raw(c, "Abc123secretToken999")


def test_extra_cookie_of_the_script_weighs_little() -> None:
    c = compare(browser_ok(), script(("Cookie", "debug=1")))
    extra = next(d for d in c.differences if d.kind == COOKIE)
    assert extra.change == EXTRA and extra.weight <= 0.05
    assert extra.patch is not None and extra.patch.value is None  # replay removes it


# --- JSON shape and proof ------------------------------------------------------------------------------


def test_json_is_the_design_shape() -> None:
    c = compare(browser_ok(("Cookie", f"sessionid={SESSION}")), script())
    doc = json.loads(json.dumps(c.to_json()))
    assert doc["baseline"] == "b1" and doc["automated"] == "a1"
    first = doc["differences"][0]
    assert {"kind", "name", "browser", "automated", "decisive"} <= set(first)
    assert first["kind"] in ("header", "cookie", "credentials", "protocol", "tls", "query", "body")
    assert doc["diagnoses"] == ["missing-session-cookie"]
    assert doc["clients"]["browser"]["kind"] == "browser"
    assert doc["clients"]["automated"]["name"] == "python-requests/2.32"
    assert doc["proof"] is None
    for d in c.diagnoses_json():
        assert d["explanation"] and d["fix"] and "{" not in d["explanation"]


def test_with_proof() -> None:
    c = compare(browser_ok(), script(status=403, body=b"Forbidden", ua=CHROME_UA))
    hints = next(d for d in c.differences if d.name == "sec-ch-ua")
    proof: BisectResult[Difference] = BisectResult(
        [hints], 3, False, "proven", ({"size": 0, "success": False},)
    )
    proven = c.with_proof(proof)
    assert [d.name for d in proven.decisive] == ["sec-ch-ua"]
    assert proven.differences[0].proven and proven.differences[0].name == "sec-ch-ua"
    assert proven.headline == (
        "The browser sent the client-hint header 'sec-ch-ua' that the script (python-requests "
        "posing as Chrome 131) lacked; the server needs it: replay proved it with 3 requests."
    )
    assert proven.diagnoses[0].confidence == 0.99
    assert proven.to_json()["proof"]["decisive"] == ["header 'sec-ch-ua'"]
    assert proven.to_json()["differences"][0]["proven"] is True

    gone = c.with_proof(BisectResult([], 1, False, "not-reproduced"))
    assert gone.headline.startswith("Replay could not reproduce the refusal")
    assert [d.name for d in gone.decisive] == [d.name for d in c.decisive]
    stuck = c.with_proof(BisectResult([], 2, False, "insufficient"))
    assert "still refused" in stuck.headline
    capped = c.with_proof(BisectResult([], 3, True, "capped"))
    assert "stopped at its cap of 3 requests" in capped.headline


# --- helpers and totality ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "category"),
    [("sessionid", "", CAT_SESSION_COOKIE), ("JSESSIONID", "", CAT_SESSION_COOKIE),
     ("PHPSESSID", "", CAT_SESSION_COOKIE), ("connect.sid", "", CAT_SESSION_COOKIE),
     ("ASP.NET_SessionId", "", CAT_SESSION_COOKIE), ("_myapp_session", "", CAT_SESSION_COOKIE),
     ("auth_token", "", CAT_SESSION_COOKIE), ("__Host-session", "", CAT_SESSION_COOKIE),
     ("csrftoken", "", "csrf"), ("XSRF-TOKEN", "", "csrf"), ("_ga", "", CAT_TRACKING_COOKIE),
     ("cf_clearance", "", CAT_BOT_COOKIE), ("_abck", "", CAT_BOT_COOKIE),
     ("u", "f3a9c1d2e4b5a6c7d8e9f0a1", CAT_TOKEN_COOKIE), ("lang", "en", CAT_TRACKING_COOKIE),
     ("seen_banner", "1", "cookie")],
)  # fmt: skip
def test_cookie_categories(name: str, value: str, category: str) -> None:
    assert cookie_category(name, value) == category


def test_parse_cookies() -> None:
    assert parse_cookies(["a=1; b=2", "a=3; c"]) == {"a": "1", "b": "2"}
    assert len(parse_cookies(["; ".join(f"c{i}=v" for i in range(500))])) == 128


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["Cookie", "User-Agent", "X-CSRF-Token", "Authorization", "Accept"]), st.text(max_size=80)), max_size=8),
    st.lists(st.tuples(st.sampled_from(["Cookie", "User-Agent", "Origin", "Authorization"]), st.text(max_size=80)), max_size=8),
    st.sampled_from([200, 302, 401, 403, 407]),
    st.binary(max_size=200),
)  # fmt: skip
def test_compare_is_total(
    bh: list[tuple[str, str]], ah: list[tuple[str, str]], status: int, body: bytes
) -> None:
    browser = exchange(URL + "?q=1", id="b", headers=bh, status=200, request_body=body)
    automated = exchange(URL, id="a", headers=ah, status=status, body=body, request_body=b"x=1")
    c = compare(browser, automated)
    json.dumps(c.to_json())
    json.dumps(c.diagnoses_json())
    assert not c.headline.startswith("authlens could not compare"), c.headline
