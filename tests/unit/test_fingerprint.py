"""Deep client classification and TLS ClientHello fingerprints (authlens.fingerprint)."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authlens.client import ClientInfo
from authlens.fingerprint import (
    AUTOMATED,
    BROWSER,
    GREASE,
    UNKNOWN,
    ClientHelloFields,
    browser_lacks,
    classify_client,
    describe_ja4,
    is_loopback_host,
    ja3,
    ja3_string,
    ja4,
    parse_client_hello,
    profile_client,
)
from authlens.model import Headers

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
EDGE_UA = CHROME_UA + " Edg/131.0.2903.86"
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
HEADLESS_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/156.0.0.0 Safari/537.36"
)
# What Chrome 131 really sends for a same-origin fetch() over https.
CHROME_FETCH = [
    ("Host", "app.example"),
    ("sec-ch-ua-platform", '"Windows"'),
    ("User-Agent", CHROME_UA),
    ("sec-ch-ua", '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
    ("sec-ch-ua-mobile", "?0"),
    ("Accept", "*/*"),
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Dest", "empty"),
    ("Referer", "https://app.example/"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-US,en;q=0.9"),
]
FIREFOX_NAV = [
    ("Host", "app.example"),
    ("User-Agent", FIREFOX_UA),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-US,en;q=0.5"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Sec-Fetch-Dest", "document"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Site", "none"),
]
SAFARI_NAV = [
    ("Host", "app.example"),
    ("Sec-Fetch-Dest", "document"),
    ("User-Agent", SAFARI_UA),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Sec-Fetch-Site", "none"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Accept-Language", "en-GB,en;q=0.9"),
    ("Accept-Encoding", "gzip, deflate, br"),
]
REQUESTS_DEFAULT = [
    ("Host", "app.example"),
    ("User-Agent", "python-requests/2.32.3"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Accept", "*/*"),
    ("Connection", "keep-alive"),
]
HTTPS = "https://app.example/api"


# --- browsers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "name", "engine"),
    [
        (CHROME_FETCH, "Chrome 131", "blink"),
        ([(k, EDGE_UA if k == "User-Agent" else v) for k, v in CHROME_FETCH], "Edge 131", "blink"),
        (FIREFOX_NAV, "Firefox 133", "gecko"),
        (SAFARI_NAV, "Safari 18", "webkit"),
    ],
)
def test_real_browsers_are_browsers(headers: list[tuple[str, str]], name: str, engine: str) -> None:
    profile = profile_client(headers, url=HTTPS)
    assert profile.kind == BROWSER
    assert profile.name == name
    assert profile.engine == engine
    assert profile.browser_engine
    assert profile.lacks == ()
    assert profile.evidence[0].startswith("User-Agent names")


def test_classify_client_returns_the_engine_client_shape() -> None:
    info = classify_client(CHROME_FETCH, url=HTTPS)
    assert isinstance(info, ClientInfo)
    assert info.to_json() == {
        "kind": "browser",
        "name": "Chrome 131",
        "evidence": list(info.evidence),
    }
    assert classify_client(Headers.of(CHROME_FETCH), url=HTTPS) == info


def test_headless_chrome_is_automation_but_a_real_browser_engine() -> None:
    headers = [(k, HEADLESS_UA if k == "User-Agent" else v) for k, v in CHROME_FETCH]
    profile = profile_client(headers, url="http://127.0.0.1:8000/api")
    assert profile.kind == AUTOMATED
    assert profile.name == "HeadlessChrome 156"
    assert profile.browser_engine  # a valid baseline: it sends what a browser sends
    assert profile.automation is not None and "headless" in profile.automation


# --- automated clients -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("curl/8.5.0", "curl/8.5"),
        ("python-requests/2.32.3", "python-requests/2.32"),
        ("python-httpx/0.28.1", "python-httpx/0.28"),
        ("Python/3.12 aiohttp/3.10.5", "aiohttp/3.10"),
        ("Python-urllib/3.12", "Python-urllib/3.12"),
        ("Go-http-client/2.0", "Go-http-client/2.0"),
        ("okhttp/4.12.0", "okhttp/4.12"),
        ("Java/17.0.2", "Java/17.0"),
        ("Java-http-client/21.0.1", "Java-http-client/21.0"),
        ("axios/1.7.7", "axios/1.7"),
        ("node", "node"),
        ("undici", "undici"),
        ("PostmanRuntime/7.42.0", "PostmanRuntime/7.42"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.19045; en-US) PowerShell/7.4.6",
            "PowerShell/7.4",
        ),
        ("Wget/1.21.3", "Wget/1.21"),
    ],
)
def test_automated_clients_by_product_token(ua: str, name: str) -> None:
    info = classify_client([("User-Agent", ua), ("Accept", "*/*")], url=HTTPS)
    assert info.kind == AUTOMATED
    assert info.name == name


def test_postman_token_header_names_postman() -> None:
    info = classify_client([("User-Agent", CHROME_UA), ("Postman-Token", "abc")], url=HTTPS)
    assert info.kind == AUTOMATED and info.name == "PostmanRuntime"


def test_script_posing_as_chrome_is_caught() -> None:
    headers = [(k, CHROME_UA if k == "User-Agent" else v) for k, v in REQUESTS_DEFAULT]
    profile = profile_client(headers, url=HTTPS)
    assert profile.kind == AUTOMATED
    assert profile.name == "python-requests posing as Chrome 131"
    assert profile.claimed == "Chrome 131"
    assert not profile.browser_engine
    assert {"sec-ch-ua", "Sec-Fetch-*", "Accept-Language"} <= set(profile.lacks)
    assert "Accept-Encoding with br" in profile.lacks


def test_curl_with_a_browser_user_agent_is_caught_by_shape() -> None:
    headers = [("Host", "h"), ("User-Agent", FIREFOX_UA), ("Accept", "*/*")]
    profile = profile_client(headers, url=HTTPS)
    assert profile.kind == AUTOMATED
    assert profile.library == "curl"
    assert profile.name == "curl posing as Firefox 133"


def test_library_shape_without_user_agent_change() -> None:
    headers = [(k, "MyTool/1.0" if k == "User-Agent" else v) for k, v in REQUESTS_DEFAULT]
    info = classify_client(headers, url=HTTPS)
    assert info.kind == AUTOMATED
    assert info.name == "python-requests (changed User-Agent)"


def test_unknown_user_agent_without_browser_headers_is_automated() -> None:
    info = classify_client([("User-Agent", "MyTool/1.0"), ("Accept", "application/json")])
    assert info.kind == AUTOMATED and info.name == "MyTool/1.0"


def test_no_user_agent_is_unknown() -> None:
    info = classify_client([("Accept", "*/*"), ("X-Thing", "1")])
    assert info.kind == UNKNOWN and info.evidence == ("no User-Agent header",)


def test_browser_hints_without_user_agent_are_a_browser() -> None:
    info = classify_client([("sec-ch-ua", '"Microsoft Edge";v="131", "Chromium";v="131"')])
    assert info.kind == BROWSER and info.name == "Edge 131"


def test_plain_http_to_a_remote_host_does_not_expect_client_hints() -> None:
    # Chrome sends neither client hints nor fetch metadata to insecure origins.
    headers = [
        ("User-Agent", CHROME_UA),
        ("Accept", "text/html"),
        ("Accept-Language", "en"),
        ("Accept-Encoding", "gzip, deflate"),
    ]
    profile = profile_client(headers, url="http://intranet.example/")
    assert profile.kind == BROWSER and profile.lacks == ()
    # ...but loopback is a secure context, where they are always sent.
    assert profile_client(headers, url="http://127.0.0.1:8080/").kind == AUTOMATED


def test_one_missing_marker_is_only_a_note() -> None:
    headers = [(k, v) for k, v in CHROME_FETCH if k != "Accept-Language"]
    profile = profile_client(headers, url=HTTPS)
    assert profile.kind == BROWSER
    assert profile.lacks == ("Accept-Language",)
    assert "possibly a script" in profile.evidence[-1]


def test_tls_fingerprint_evidence_says_the_server_sees_mitmproxy() -> None:
    profile = profile_client(CHROME_FETCH, "t13d1516h2_8daaf6152771_e5627efa2ab1", url=HTTPS)
    assert profile.kind == BROWSER
    assert any("server sees mitmproxy's own TLS" in e for e in profile.evidence)


def test_tls_without_alpn_contradicts_a_browser_claim() -> None:
    headers = [(k, v) for k, v in CHROME_FETCH if k != "Accept-Language"]
    profile = profile_client(headers, "t13d311100_e8f1e7e78f70_b26ce05bbdd6", url=HTTPS)
    assert profile.kind == AUTOMATED
    assert "ALPN in the TLS ClientHello" in profile.lacks


@pytest.mark.parametrize(
    ("family", "version", "minor", "chromium", "expected"),
    [
        ("Chrome", 131, None, None, ("sec-ch-ua", "Sec-Fetch-*")),
        ("Chrome", 85, None, None, ("Sec-Fetch-*",)),  # before client hints (89)
        ("Chrome", 75, None, None, ()),  # before fetch metadata
        ("Edge", 131, None, 131, ("sec-ch-ua", "Sec-Fetch-*")),
        ("Opera", 75, None, 89, ("sec-ch-ua", "Sec-Fetch-*")),  # Opera 75 is Chromium 89
        ("Firefox", 133, None, None, ("Sec-Fetch-*",)),
        ("Firefox", 89, None, None, ()),
        ("Safari", 16, 4, None, ("Sec-Fetch-*",)),
        ("Safari", 16, 3, None, ()),
    ],
)
def test_browser_lacks_by_version(
    family: str, version: int, minor: int | None, chromium: int | None, expected: tuple[str, ...]
) -> None:
    headers = [("Accept", "*/*"), ("Accept-Language", "en"), ("Accept-Encoding", "gzip, br")]
    got = browser_lacks(family, version, headers, secure=True, minor=minor, chromium=chromium)
    assert got == expected
    assert (
        browser_lacks(family, version, headers, secure=None, minor=minor, chromium=chromium) == ()
    )


def test_browser_lacks_compression_and_language() -> None:
    got = browser_lacks(
        "Chrome", 131, [("Accept", "*/*"), ("Accept-Encoding", "gzip")], secure=True
    )
    assert "Accept-Language" in got and "Accept-Encoding with br" in got


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.9.8.7", True), ("[::1]", True), ("localhost", True),
     ("app.localhost", True), ("10.0.0.1", False), ("example.org", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["User-Agent", "sec-ch-ua", "Sec-Fetch-Site", "Accept", "X"]),
            st.text(max_size=300),
        ),
        max_size=12,
    ),
    st.one_of(st.none(), st.text(max_size=60)),
    st.one_of(st.none(), st.sampled_from([HTTPS, "http://127.0.0.1/", "::bad::"])),
)
def test_profile_is_total(headers: list[tuple[str, str]], tls: str | None, url: str | None) -> None:
    profile = profile_client(headers, tls, url=url)
    assert profile.kind in (BROWSER, AUTOMATED, UNKNOWN)
    profile.to_json()


# --- JA3 / JA4 ----------------------------------------------------------------------------------


def _hex(text: str) -> tuple[int, ...]:
    return tuple(int(x, 16) for x in text.split(","))


# The worked example of the JA4 specification (FoxIO, technical_details/JA4.md).
SPEC_CIPHERS = _hex("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035")
SPEC_EXTENSIONS = _hex(
    "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015"
)
SPEC_SIGALGS = _hex("0403,0804,0401,0503,0805,0501,0806,0601")


def _spec_hello(**changes: object) -> ClientHelloFields:
    fields: dict[str, object] = {
        "version": 0x0303,
        "cipher_suites": (0x0A0A, *SPEC_CIPHERS),
        "extensions": (0x1A1A, *SPEC_EXTENSIONS, 0xFAFA),
        "signature_algorithms": SPEC_SIGALGS,
        "supported_versions": (0x2A2A, 0x0304, 0x0303),
        "alpn": (b"h2", b"http/1.1"),
        "sni": "example.com",
    }
    fields.update(changes)
    return ClientHelloFields(**fields)  # type: ignore[arg-type]


def test_ja4_matches_the_specification_example() -> None:
    hello = _spec_hello()
    assert ja4(hello) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert ja4(hello, raw=True) == (
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"
        "_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"
        "_0403,0804,0401,0503,0805,0501,0806,0601"
    )
    assert describe_ja4(ja4(hello)) == {
        "transport": "TLS over TCP",
        "version": "13",
        "sni": True,
        "ciphers": 15,
        "extensions": 16,
        "alpn": "h2",
    }


def test_ja4_edge_rules() -> None:
    # No signature algorithms: no underscore before hashing (spec: 6d807ffa2a79).
    assert ja4(_spec_hello(signature_algorithms=())).endswith("_6d807ffa2a79")
    assert ja4(_spec_hello(cipher_suites=(), extensions=())).endswith("_000000000000_000000000000")
    no_sni = _spec_hello(extensions=tuple(e for e in SPEC_EXTENSIONS if e != 0))
    assert ja4(no_sni).startswith("t13i1515h2_")
    assert ja4(_spec_hello(alpn=())).startswith("t13d1516" + "00")
    assert ja4(_spec_hello(supported_versions=(), version=0x0303))[1:3] == "12"
    assert ja4(_spec_hello(supported_versions=(), version=0x0300))[1:3] == "s3"
    assert ja4(_spec_hello(supported_versions=(0x9999,)))[1:3] == "00"
    assert ja4(_spec_hello(transport="q"))[0] == "q"


@pytest.mark.parametrize(
    ("alpn", "expected"),
    [(b"h2", "h2"), (b"http/1.1", "h1"), (b"h", "hh"), (b"\xab", "ab"), (b"\xab\xcd", "ad"),
     (b"0\xab", "3b"), (b"01\xab\xcd", "3d"), (b"0\xab\xcd1", "01")],
)  # fmt: skip
def test_ja4_alpn_rule(alpn: bytes, expected: str) -> None:
    assert ja4(_spec_hello(alpn=(alpn,)))[8:10] == expected


def test_ja3_matches_a_real_chrome_capture() -> None:
    # Chrome 143's JA3 text and hash as a public TLS echo service reported them.
    text = (
        "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
        "45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0"
    )
    parts = text.split(",")
    hello = ClientHelloFields(
        version=int(parts[0]),
        cipher_suites=(0x3A3A, *(int(x) for x in parts[1].split("-"))),
        extensions=(0x4A4A, *(int(x) for x in parts[2].split("-")), 0x5A5A),
        supported_groups=(0x6A6A, *(int(x) for x in parts[3].split("-"))),
        ec_point_formats=(0,),
        signature_algorithms=SPEC_SIGALGS,
        supported_versions=(0x7A7A, 0x0304, 0x0303),
        alpn=(b"h2", b"http/1.1"),
    )
    assert ja3_string(hello) == text
    assert ja3(hello) == "98487aa16281980e7d1120d399efb6a4"
    # The same capture's JA4, from the same fields.
    assert ja4(hello) == "t13d1516h2_8daaf6152771_d8a2da3f94cd"


def test_grease_values() -> None:
    assert len(GREASE) == 16 and 0x0A0A in GREASE and 0xFAFA in GREASE


def _openssl_client_hello(alpn: list[str] | None = None, sni: str | None = "example.com") -> bytes:
    """A real ClientHello record, made by this Python's OpenSSL in memory."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_parse_client_hello_agrees_with_mitmproxy() -> None:
    from mitmproxy.tls import ClientHello

    record = _openssl_client_hello(["h2", "http/1.1"])
    mine = parse_client_hello(record)
    assert mine is not None
    body = record[9 : 9 + int.from_bytes(record[6:9], "big")]
    theirs = ClientHello(body)
    assert list(mine.cipher_suites) == theirs.cipher_suites
    assert list(mine.extensions) == [t for t, _ in theirs.extensions]
    assert list(mine.alpn) == theirs.alpn_protocols == [b"h2", b"http/1.1"]
    assert mine.sni == theirs.sni == "example.com"
    assert 0x0304 in mine.supported_versions and mine.signature_algorithms
    # The three accepted framings give the same fields.
    assert parse_client_hello(body) == mine
    assert parse_client_hello(record[5:]) == mine
    # And so does building from mitmproxy's (type, body) extension list.
    rebuilt = ClientHelloFields.from_extensions(
        mine.version, theirs.cipher_suites, theirs.extensions
    )
    assert ja4(rebuilt) == ja4(mine) and ja3(rebuilt) == ja3(mine)
    assert ja4(mine).startswith("t13d") and ja4(mine)[8:10] == "h2"


def test_parse_client_hello_without_sni_or_alpn() -> None:
    hello = parse_client_hello(_openssl_client_hello(None, None))
    assert hello is not None and hello.sni is None and hello.alpn == ()
    assert ja4(hello)[3] == "i" and ja4(hello)[8:10] == "00"


def test_parse_client_hello_rejects_damage() -> None:
    record = _openssl_client_hello()
    assert parse_client_hello(b"") is None
    assert parse_client_hello(b"GET / HTTP/1.1\r\n\r\n") is None
    assert parse_client_hello(record[:60]) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_parse_client_hello_is_total(data: bytes) -> None:
    hello = parse_client_hello(data)
    if hello is not None:
        ja3(hello)
        ja4(hello)
