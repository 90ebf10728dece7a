"""Every diagnosis authlens can make, declared once (DESIGN.md §5).

Each entry is a frozen :class:`Diagnosis` constant: the stable kebab-case ``id``, a default
``severity``, a one-line ``title``, and three templates filled from a detector's hit:
``headline`` (the one-line comment, after the ID), ``explanation`` (why it happens, for
someone who is not an HTTP expert) and ``fix`` (what to change: curl flags, python-requests
and httpx code, browser behaviour, server configuration). Templates use ``str.format``
named slots; a detector must supply every slot its diagnosis uses (the registry and the
tests check that), and slot values are already redacted: fingerprints, user names, realms,
never a password or token.

Code refers to a diagnosis by its constant (``DIGEST_STALE_NONCE``), never by the ID
string, so a typo is an import error rather than a silently missing diagnosis.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from authlens.findings import Severity

SINCE = "0.1.0"


@dataclass(frozen=True, slots=True, eq=False)
class Diagnosis:
    """One catalogue entry. Equal IDs are equal entries; constants are the only instances."""

    id: str
    severity: Severity
    title: str
    headline: str
    explanation: str
    fix: str
    references: tuple[str, ...] = ()
    known_problems: str = ""
    since: str = SINCE

    # By ID: the engine keys dicts and sets by diagnosis on every judged exchange, and the
    # generated hash would walk every text field each time.
    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Diagnosis) and other.id == self.id)

    def __hash__(self) -> int:
        return hash(self.id)

    def slots(self) -> frozenset[str]:
        """Names of the template slots ``headline``, ``explanation`` and ``fix`` use."""
        names: set[str] = set()
        for template in (self.headline, self.explanation, self.fix):
            for _text, name, _spec, _conv in string.Formatter().parse(template):
                if name:
                    names.add(name)
        return frozenset(names)

    def render(self, slots: Mapping[str, str]) -> tuple[str, str, str]:
        """(headline, explanation, fix) with ``slots`` filled in. Raises KeyError on a
        missing slot: a detector bug, which the engine turns into ``internal-error``."""
        return (
            self.headline.format_map(slots),
            self.explanation.format_map(slots),
            self.fix.format_map(slots),
        )


def reference_url(cite: str) -> str | None:
    """A link for an "RFC nnnn §x.y" citation (the HTML report uses it); None otherwise."""
    parts = cite.split()
    if len(parts) < 2 or parts[0] != "RFC" or not parts[1].isdigit():
        return None
    url = f"https://www.rfc-editor.org/rfc/rfc{parts[1]}"
    if len(parts) >= 3 and parts[2].startswith("§"):
        url += "#section-" + parts[2][1:]
    return url


E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741 - table shorthand

# -- the challenge itself ------------------------------------------------------------------

MISSING_CREDENTIALS = Diagnosis(
    id="missing-credentials",
    severity=W,
    title="No credentials were sent",
    headline="no {field} header for {space}; {state}",
    explanation=(
        "{asker} asked for authentication ({space}) but this request carried no {field} "
        "header. That is how every handshake starts: a client normally sends its first "
        "request without credentials, reads the challenge and then retries with them. "
        "{state_sentence}"
    ),
    fix=(
        "Nothing to change if a retry with credentials follows. Otherwise make the client "
        "send them: curl `-u user:pass` (add `--digest`, `--ntlm`, `--negotiate` or "
        "`--anyauth` for other schemes; `-H 'Authorization: Bearer TOKEN'` for tokens); "
        "python-requests `requests.get(url, auth=('user', 'pass'))` or "
        "`auth=HTTPDigestAuth(...)`; httpx `httpx.get(url, auth=('user', 'pass'))` or "
        "`auth=httpx.DigestAuth(...)`; browsers only prompt for Basic/Digest/NTLM/Negotiate "
        "on top-level navigations, never for fetch()/XHR without `credentials: 'include'`."
    ),
    references=("RFC 9110 §11.6.1", "RFC 9110 §15.5.2"),
    known_problems=(
        "Requests authenticated by cookies or client certificates carry no Authorization "
        "header; the diagnosis is then only a hint."
    ),
)

NO_RETRY = Diagnosis(
    id="no-retry",
    severity=E,
    title="The client never answered the challenge",
    headline="the client never retried with {field} for {space} ({waited})",
    explanation=(
        "The challenge ({space}) was not followed by any request carrying a "
        "{field} header {waited}. The client gave up after the first refusal: it either "
        "has no credentials configured, does not support the offered scheme, or was told "
        "not to send credentials to this host."
    ),
    fix=(
        "Configure credentials for this host and a scheme the server offers. curl sends "
        "nothing unless given `-u user:pass` (plus `--anyauth` to let it pick the scheme, "
        "or `--negotiate -u :` for Kerberos); python-requests needs `auth=` on every call "
        "or on the Session (it never reads the challenge; NTLM needs requests-ntlm); "
        "httpx needs `auth=`; `.netrc` entries apply only to the exact host name; a browser "
        "that shows no prompt for Negotiate/NTLM needs the host in its intranet zone or "
        "allow-list (`AuthServerAllowlist` policy in Chrome/Edge, "
        "`network.negotiate-auth.trusted-uris` in Firefox)."
    ),
    references=("RFC 9110 §11.6.1",),
    known_problems=(
        "A capture that ends right after the challenge, or a retry sent outside the "
        "capture (another proxy, another client), looks the same."
    ),
)

CREDENTIALS_REJECTED = Diagnosis(
    id="credentials-rejected",
    severity=E,
    title="The credentials were refused",
    headline="{scheme} credentials for {identity} were refused by {refuser}",
    explanation=(
        "The client sent {scheme} credentials for {identity} in a scheme the challenge "
        "offers, and {refuser} still refused them. The usual causes are a wrong password or "
        "token, a user that does not exist in this realm or domain, or an account that is "
        "disabled or locked. {detail}"
    ),
    fix=(
        "Check the user name (including the domain: `DOMAIN\\user` or `user@domain` for "
        "NTLM/Negotiate) and the password or token outside the client, e.g. in a browser "
        "or with `curl -v -u user:pass URL`. Quote credentials in the shell (`-u "
        "'user:p@ss!'`); in URLs percent-encode reserved characters (`@` → `%40`, `:` → "
        "`%3A`). If the server logs authentication failures (Windows event 4625, Apache "
        "`error_log`, IdP audit log) they name the exact reason."
    ),
    references=("RFC 9110 §15.5.2", "RFC 9110 §11.6.1"),
)

SCHEME_MISMATCH = Diagnosis(
    id="scheme-mismatch",
    severity=E,
    title="Credentials in a scheme the server does not offer",
    headline="{sent} credentials sent, but {asker} offers only {offered}",
    explanation=(
        "The client sent {sent} credentials, but {asker} only accepts {offered}. A server "
        "ignores credentials in a scheme it does not support, so they were never checked, "
        "however correct they are."
    ),
    fix=(
        "Use a scheme from the challenge. curl: `--basic`, `--digest`, `--ntlm`, "
        "`--negotiate`, or `--anyauth` to pick from the challenge; python-requests: "
        "`HTTPBasicAuth`, `HTTPDigestAuth`, requests-ntlm / requests-kerberos; httpx: "
        "`httpx.BasicAuth`, `httpx.DigestAuth`, or a custom `httpx.Auth` for tokens. If "
        "the server should accept {sent}, enable that scheme in its configuration."
    ),
    references=("RFC 9110 §11.6.1", "RFC 9110 §11.4"),
)

MISSING_CHALLENGE = Diagnosis(
    id="missing-challenge",
    severity=W,
    title="Refusal without a challenge",
    headline="{status} without a {header} header: the client cannot tell how to log in",
    explanation=(
        "A {status} response must say how to authenticate in a {header} header, but this "
        "one has none. Clients that follow the protocol (curl `--anyauth`, browsers, "
        "python-requests auth handlers, httpx DigestAuth) therefore cannot answer it. "
        "Token APIs often do this on purpose; then only the API's documentation says what "
        "to send."
    ),
    fix=(
        'Server side: send `{header}: <scheme> realm="..."` with every {status} '
        '(e.g. `Bearer realm="api"`), or answer 403 if authentication cannot help. Client '
        "side: send the credentials the API documents up front (`-H 'Authorization: Bearer "
        "TOKEN'` in curl, `headers={{'Authorization': ...}}` in requests/httpx)."
    ),
    references=("RFC 9110 §15.5.2", "RFC 9110 §15.5.8", "RFC 9110 §11.6.1"),
)

MALFORMED_CHALLENGE = Diagnosis(
    id="malformed-challenge",
    severity=W,
    title="The challenge breaks the header syntax",
    headline="{header} breaks RFC 9110 syntax: {problems}",
    explanation=(
        "The {header} field does not follow the syntax of RFC 9110 §11.6.1: {details} "
        "Lenient clients guess what was meant; strict ones (and some libraries) ignore the "
        "challenge or read a different realm or nonce, and then fail to authenticate."
    ),
    fix=(
        "Fix the server or the framework that writes the header: one challenge is "
        '`Scheme param="value", param2="value"`, several challenges are separated by '
        "commas or sent as separate header lines, values with spaces or commas must be "
        'quoted, and a quote inside a value is escaped as `\\"`.'
    ),
    references=("RFC 9110 §11.6.1", "RFC 9110 §11.2", "RFC 9110 §5.6.4"),
)

# -- what the credentials carry -------------------------------------------------------------

TOKEN_EXPIRED = Diagnosis(
    id="token-expired",
    severity=E,
    title="The token has expired",
    headline="the JWT expired at {exp}, {delta} before {reference}",
    explanation=(
        "The Bearer token is a JWT whose `exp` claim says it stopped being valid at {exp}, "
        "{delta} before {reference}. Servers refuse expired tokens; the client kept using "
        "an old token instead of fetching a new one."
    ),
    fix=(
        "Fetch a fresh token (refresh-token grant or a new login) before it expires, and "
        'retry once on 401 with `error="invalid_token"`. In code, cache the token with '
        "its expiry and renew a minute early; in a browser app, check that the silent "
        "refresh (e.g. MSAL/oidc-client) is not blocked by third-party-cookie rules. If "
        "the token should still be valid, compare the client's and the server's clocks "
        "(NTP)."
    ),
    references=("RFC 7519 §4.1.4", "RFC 6750 §3.1"),
    known_problems=(
        "Opaque (non-JWT) tokens carry no expiry that authlens can read. Without a Date "
        "header the capture's own clock is used, which may differ from the server's."
    ),
)

TOKEN_NOT_YET_VALID = Diagnosis(
    id="token-not-yet-valid",
    severity=E,
    title="The token is not valid yet (clock skew)",
    headline="the JWT's {claim} ({when}) lies {delta} after {reference}: clock skew",
    explanation=(
        "The Bearer token is a JWT whose `{claim}` claim is {when}, {delta} after "
        "{reference}. The token issuer's clock runs ahead of the server's (or the server's "
        "behind), so the server considers the token not valid yet."
    ),
    fix=(
        "Synchronise the clocks of the token issuer and the server (NTP, `chronyc "
        "tracking`, `w32tm /resync`). Server side, allow a small leeway when validating "
        "(PyJWT `leeway=60`, Microsoft.IdentityModel `ClockSkew`, Spring "
        "`JwtTimestampValidator(Duration.ofSeconds(60))`)."
    ),
    references=("RFC 7519 §4.1.5", "RFC 7519 §4.1.6"),
)

INVALID_TOKEN = Diagnosis(
    id="invalid-token",
    severity=E,
    title="The server says the token is invalid",
    headline="the server rejected the Bearer token as invalid{description}",
    explanation=(
        'The server answered with `error="invalid_token"`{description}: the access token '
        "is expired, revoked, malformed, or was issued for another audience or issuer. "
        "{token_note}"
    ),
    fix=(
        "Get a new token from the right issuer for this API (check the `aud`, `iss` and "
        "`scp`/`scope` claims at the token endpoint's documentation). Send it exactly as "
        "`Authorization: Bearer <token>` with one space and no quotes (curl `-H "
        "'Authorization: Bearer TOKEN'`, requests/httpx `headers={{'Authorization': "
        "'Bearer ' + token}}`). Retry once after refreshing; do not loop."
    ),
    references=("RFC 6750 §3.1", "RFC 6750 §2.1"),
)

INSUFFICIENT_SCOPE = Diagnosis(
    id="insufficient-scope",
    severity=E,
    title="The token lacks a required scope",
    headline="the token lacks the required scope{required}",
    explanation=(
        "The server accepted who the token belongs to, but answered "
        '`error="insufficient_scope"`: the token was not granted the permission this '
        "request needs{required}. {granted}"
    ),
    fix=(
        "Request the missing scope when obtaining the token (OAuth `scope=` parameter, "
        "MSAL `scopes=[...]`, `gcloud auth ... --scopes`), and make sure the user or app "
        "was granted it (admin consent, API permissions). A new login is needed: refreshing "
        "keeps the old scopes."
    ),
    references=("RFC 6750 §3.1",),
)

BASIC_CHARSET_MISMATCH = Diagnosis(
    id="basic-charset-mismatch",
    severity=E,
    title="Non-ASCII Basic credentials in the wrong encoding",
    headline="non-ASCII Basic credentials sent as {encoding}; the server {expected}",
    explanation=(
        "The user name or password contains non-ASCII characters and the client encoded "
        "them as {encoding}, while the server {expected}. The server then decodes different "
        "characters and the password no longer matches, although the user typed it "
        "correctly."
    ),
    fix=(
        'Send UTF-8 when the challenge says `charset="UTF-8"`, else what the server '
        "expects. python-requests encodes str credentials as ISO-8859-1: pass bytes, "
        "`auth=(user.encode('utf-8'), pw.encode('utf-8'))`. httpx encodes as UTF-8; pass "
        "`pw.encode('latin-1')` for an ISO-8859-1 server. curl sends the bytes as typed "
        "(your terminal's locale). Browsers send UTF-8. Server side announce "
        '`charset="UTF-8"` and decode as UTF-8 (Tomcat `BasicAuthenticator charset`, '
        "Spring `BasicAuthenticationFilter.setCredentialsCharset`)."
    ),
    references=("RFC 7617 §2.1",),
    known_problems=(
        "Only a hint when the server announces no charset: it may expect either encoding."
    ),
)

# -- Digest ----------------------------------------------------------------------------------

DIGEST_STALE_NONCE = Diagnosis(
    id="digest-stale-nonce",
    severity=I,
    title="Digest nonce expired (stale)",
    headline="the Digest nonce had expired (stale=true); {outcome}",
    explanation=(
        "The server said `stale=true`: the user name and password were right, but the "
        "nonce the client used had expired. A conforming client retries at once with the "
        "new nonce from this challenge, without asking the user again. {outcome_sentence}"
    ),
    fix=(
        "Nothing to fix if the client retried. If it did not: curl and httpx retry on "
        "their own; with python-requests reuse one `HTTPDigestAuth` object per Session "
        "(it handles stale). Server side, a nonce lifetime of a few seconds with many "
        "parallel requests causes stale loops; lengthen it (Apache `AuthDigestNonceLifetime`)."
    ),
    references=("RFC 7616 §3.3",),
)

DIGEST_MISMATCH = Diagnosis(
    id="digest-mismatch",
    severity=E,
    title="Digest credentials disagree with the challenge or request",
    headline="Digest credentials disagree with the {against}: {fields}",
    explanation=(
        "A Digest response is computed over the realm, nonce, algorithm, qop and request "
        "URI, so the server must see exactly the values it issued. These disagree: "
        "{details}. The server therefore computes a different hash and refuses, whatever "
        "the password."
    ),
    fix=(
        "Answer the latest challenge with its exact realm, nonce, opaque, algorithm and a "
        "qop it offers, and use the request target as sent as `uri` (path and query). "
        "Proxies or rewrites that change the path after the client signed it break Digest: "
        "sign the URL the server sees. curl `--digest` and httpx `DigestAuth` do this "
        "right; hand-made headers and old clients (that drop the query from `uri`, or "
        "do not support SHA-256) do not."
    ),
    references=("RFC 7616 §3.4", "RFC 7616 §3.4.6", "RFC 7616 §3.3"),
)

# -- connection-oriented schemes (NTLM, Negotiate) ----------------------------------------------

CONNECTION_AUTH_BROKEN = Diagnosis(
    id="connection-auth-broken",
    severity=E,
    title="NTLM/Negotiate handshake split across connections",
    headline="{scheme} handshake {problem}",
    explanation=(
        "NTLM (and Negotiate when it falls back to NTLM) authenticates a TCP connection, "
        "not a request: the three legs must travel over one keep-alive connection, end to "
        "end, over HTTP/1.1. {details}"
    ),
    fix=(
        "Keep the handshake on one connection: do not set `Connection: close`, use HTTP/1.1 "
        "(curl `--http1.1`; IIS answers HTTP/2 with HTTP_1_1_REQUIRED), and make every "
        "proxy and load balancer in between keep client and server connections paired "
        "(sticky sessions are not enough; HAProxy `http-reuse never` or `option "
        "prefer-last-server`, nginx `keepalive` upstreams do not work). With mitmproxy, "
        "exclude the host from interception (`--ignore-hosts`) or use Kerberos instead."
    ),
    references=("RFC 4559 §4", "MS-NLMP §3.1.5", "RFC 9113 §8.2.2"),
    known_problems=(
        "HAR files carry no connection identity, so authlens cannot judge from them; it "
        "then says so with low confidence."
    ),
)

KERBEROS_FALLBACK = Diagnosis(
    id="kerberos-fallback",
    severity=W,
    title="Negotiate used NTLM instead of Kerberos",
    headline="Negotiate carried NTLM, not Kerberos, for {host}; {outcome}",
    explanation=(
        "The client answered Negotiate with an NTLM token: it could not get a Kerberos "
        "ticket for HTTP/{host}. Common reasons: no service principal name (SPN) is "
        "registered for that name (or it is registered twice), the client is not in the "
        "domain or cannot reach a domain controller, the name used is an IP address or a "
        "CNAME the client resolved differently, or the request goes through a proxy name. "
        "NTLM then needs connection affinity and is refused where NTLM is disabled."
    ),
    fix=(
        "Register the SPN for the name clients use (`setspn -S HTTP/{host} "
        "DOMAIN\\serviceaccount`; check with `setspn -Q HTTP/{host}`), use the DNS name "
        "rather than an IP address, and check `klist get HTTP/{host}` on the client. curl: "
        "`--negotiate -u :` with a valid ticket (`kinit`); python: requests-kerberos / "
        "httpx-gssapi. Browsers need the host in the intranet zone (Chrome/Edge "
        "`AuthServerAllowlist`, Firefox `network.negotiate-auth.trusted-uris`)."
    ),
    references=("RFC 4559 §4", "RFC 4178 §3"),
)

CHANNEL_BINDING_BROKEN = Diagnosis(
    id="channel-binding-broken",
    severity=E,
    title="Channel binding broken by TLS interception",
    headline="{scheme} credentials were bound to {interceptor}'s TLS certificate, not {host}'s",
    explanation=(
        "The client bound its {scheme} credentials to the TLS connection it saw (channel "
        'binding, Windows "Extended Protection for Authentication"). Because the TLS '
        "connection is intercepted, that is {interceptor}'s certificate, while the server "
        "checks the binding against its own certificate, so it refuses credentials that "
        "are otherwise correct. This is an observer effect: the same client works when "
        "not intercepted. {certainty}"
    ),
    fix=(
        "Do not intercept this host: start mitmproxy with `--ignore-hosts '^{host_re}:443$'` "
        "(or `--allow-hosts` for everything else), so the client talks TLS to the server "
        "itself. Only if that is impossible and for testing: set the server's Extended "
        'Protection to Off/Allow (IIS `extendedProtection tokenChecking="None"`), or '
        "disable channel binding on the client for the test."
    ),
    references=("RFC 5929 §4", "MS-NLMP §3.1.5.2.2", "RFC 4559 §4"),
    known_problems=(
        "A HAR from a browser was not intercepted; then the binding failed for another "
        "reason (a TLS-terminating load balancer in front of the server)."
    ),
)

# -- redirects, proxies, CORS, transport --------------------------------------------------------

CREDENTIALS_DROPPED_ON_REDIRECT = Diagnosis(
    id="credentials-dropped-on-redirect",
    severity=E,
    title="Credentials dropped after a cross-origin redirect",
    headline="{field} was sent to {from_origin} but dropped after the redirect to {to_origin}",
    explanation=(
        "The client sent {field} to {from_origin}, was redirected to another origin "
        "({to_origin}) and, by design, did not send the credentials there: clients drop "
        "Authorization on cross-origin redirects so that one site cannot harvest another's "
        "credentials. {to_origin} then refused the request."
    ),
    fix=(
        "Request the final URL directly, or re-send credentials deliberately for the new "
        "origin: curl `--location-trusted` (sends them to any host: only for hosts you "
        "trust); python-requests strips Authorization on host change (override "
        "`Session.rebuild_auth`, or call the new URL yourself with `auth=`); httpx likewise "
        "(follow redirects manually with `follow_redirects=False` and re-add `auth=`); "
        "browsers' fetch() always drop it. Server side, avoid redirecting authenticated API "
        "calls across hosts (http→https and host-name canonicalisation redirects are "
        "typical)."
    ),
    references=("RFC 9110 §15.4", "Fetch Standard §4.4 (HTTP-redirect fetch)"),
)

PROXY_AUTH_REQUIRED = Diagnosis(
    id="proxy-auth-required",
    severity=W,
    title="A proxy requires authentication",
    headline="proxy {proxy} requires authentication ({schemes}); {state}",
    explanation=(
        "A proxy ({proxy}), not the web server, answered 407: it wants Proxy-Authorization "
        "credentials ({schemes}) before it forwards anything. {state_sentence}"
    ),
    fix=(
        "Give the client proxy credentials: curl `-x http://proxy:3128 -U user:pass` (plus "
        "`--proxy-ntlm`, `--proxy-negotiate` or `--proxy-anyauth`); python-requests "
        "`proxies={{'https': 'http://user:pass@proxy:3128'}}` (percent-encode special "
        "characters; requests cannot do NTLM to a proxy); httpx "
        "`httpx.Client(proxy='http://user:pass@proxy:3128')`; environment `HTTPS_PROXY`. "
        "When mitmproxy forwards to this proxy: `--mode upstream:http://proxy:3128 "
        "--upstream-auth user:pass`."
    ),
    references=("RFC 9110 §15.5.8", "RFC 9110 §11.7.1"),
)

WRONG_AUTH_HEADER = Diagnosis(
    id="wrong-auth-header",
    severity=E,
    title="Credentials in the wrong header",
    headline="{sent} sent, but the {status} asks for {wanted}",
    explanation=(
        "The request carried {sent} but no {wanted}, and the {status} response asks for "
        "{wanted}. {why}"
    ),
    fix=(
        "Send {wanted}. For a proxy (407): curl `-U user:pass` / `--proxy-user`, not `-u`; "
        "requests/httpx put the credentials in the proxy URL, not in `auth=`. For a server "
        "(401): curl `-u`, requests/httpx `auth=`; Proxy-Authorization is consumed by the "
        "first proxy and never reaches the server."
    ),
    references=("RFC 9110 §11.6.2", "RFC 9110 §11.7.2"),
)

PREFLIGHT_REQUIRES_AUTH = Diagnosis(
    id="preflight-requires-auth",
    severity=E,
    title="The CORS preflight was refused",
    headline="the CORS preflight for {method} from {origin} was refused with {status}",
    explanation=(
        "Before a cross-origin {method} request with custom headers, a browser sends an "
        'OPTIONS "preflight" without any credentials (the Fetch standard forbids them). '
        "The server demanded authentication for that preflight ({status}), so the browser "
        "never sends the real request, whatever credentials the page has. The page sees a "
        "CORS error, not a 401."
    ),
    fix=(
        "Fix the server: answer OPTIONS preflights without authentication, with the CORS "
        "headers. nginx: handle `if ($request_method = OPTIONS) {{ return 204; }}` before "
        "`auth_basic`/`auth_request`; Apache: `<LimitExcept OPTIONS> Require valid-user "
        "</LimitExcept>`; Spring Security: `http.cors()` and permit `HttpMethod.OPTIONS`; "
        "ASP.NET Core: `app.UseCors()` before `UseAuthentication()`; IIS: the CORS module "
        "or allow anonymous OPTIONS. Nothing in the browser can change this."
    ),
    references=("Fetch Standard §4.8 (CORS-preflight fetch)", "RFC 9110 §9.3.7"),
)

CLEARTEXT_CREDENTIALS = Diagnosis(
    id="cleartext-credentials",
    severity=W,
    title="Credentials sent without TLS",
    headline="{scheme} credentials sent over plain HTTP to {host}",
    explanation=(
        "The request sent {scheme} credentials over http:// to {host}, so anyone on the "
        "network path can {exposure}. Many servers and browsers also refuse or drop "
        "credentials on plain HTTP."
    ),
    fix=(
        "Use https:// for every authenticated request (curl and requests/httpx follow the "
        "URL you give them; an `http://` base URL in a config file is the usual cause), and "
        "make the server redirect http to https before asking for credentials (HSTS for "
        "browsers)."
    ),
    references=("RFC 7617 §4", "RFC 6750 §5.3", "RFC 9110 §17.16.1"),
)

LOGIN_REDIRECT = Diagnosis(
    id="login-redirect",
    severity=W,
    title='Redirected to a login page (a "soft 401")',
    headline="redirected to a login page ({location}) instead of a 401; {cookies}",
    explanation=(
        "Instead of answering 401, the server redirected to a login page ({location}). For "
        "a browser that is a sign-in prompt; for a script or API client it is a refusal in "
        "disguise: following the redirect yields an HTML login form with status 200. "
        "{cookie_sentence}"
    ),
    fix=(
        "Authenticate the way the site expects: log in first and reuse the session cookie "
        "(requests `Session()`, httpx `Client()` keep cookies; curl `-c jar -b jar`), or use "
        "the API's token endpoint instead of the web login. Do not follow redirects blindly "
        "in API clients (curl without `-L`, `allow_redirects=False`, httpx default). Server "
        "side, answer API requests (Accept: application/json, no Sec-Fetch-Mode: navigate) "
        "with 401 instead of a redirect."
    ),
    references=("RFC 9110 §15.4", "RFC 9110 §15.5.2"),
    known_problems="Recognised from the URL only; an unusual login path is missed.",
)

# -- who refused -----------------------------------------------------------------------------------

REFUSED_BY_MITMPROXY = Diagnosis(
    id="refused-by-mitmproxy",
    severity=E,
    title="mitmproxy itself refused the request",
    headline="mitmproxy itself answered {status} (its own proxy authentication), not the server",
    explanation=(
        "This {status} was made by mitmproxy, not by the server: mitmproxy runs with "
        "`--proxyauth` and the request carried no acceptable {field} for it. The request "
        "never left mitmproxy. {evidence_sentence}"
    ),
    fix=(
        "Either give the client mitmproxy's proxy credentials (curl `-x "
        "http://user:pass@127.0.0.1:8080`, requests/httpx a proxy URL with `user:pass@`), "
        "or start mitmproxy without `--proxyauth` (or with `--proxyauth any`). Note "
        "mitmproxy's proxy authentication understands Basic only."
    ),
    references=("RFC 9110 §15.5.8",),
)

IIS_SUBSTATUS = Diagnosis(
    id="iis-substatus",
    severity=E,
    title="IIS sub-status explains the refusal",
    headline="IIS {code}: {meaning}",
    explanation=('The error page is IIS\'s and names sub-status {code}, "{meaning}". {cause}'),
    fix="{action}",
    references=("Microsoft Learn: HTTP status code overview (IIS)",),
    known_problems="IIS hides sub-status pages from remote clients unless detailed errors are on.",
)

LOCKOUT_SUSPECTED = Diagnosis(
    id="lockout-suspected",
    severity=W,
    title="Lockout or brute-force protection suspected",
    headline="{signal} for {identity}: lockout or throttling likely",
    explanation=(
        "{signal_sentence} Directory services and identity providers lock an account or "
        "throttle a client after a few failed attempts; after that even the right password "
        "is refused until the lockout expires or an administrator unlocks it."
    ),
    fix=(
        "Stop retrying (scripts in a loop make it worse), wait for the lockout window "
        "(often 15–30 minutes), then test once with known-good credentials. Check the "
        "account's state (AD: `Get-ADUser user -Properties LockedOut,badPwdCount`; the "
        "IdP's sign-in log). Fix the client that keeps sending an old password (mapped "
        "drives, saved credentials, services)."
    ),
    references=("RFC 6585 §4", "RFC 9110 §15.5.2"),
    known_problems="Repeated wrong passwords look the same as a lockout until the server says so.",
)

# -- captures ------------------------------------------------------------------------------------

HAR_SANITIZED = Diagnosis(
    id="har-sanitized",
    severity=I,
    title="The HAR was sanitized on export",
    headline="the HAR had {fields} blanked on export; checks that need them cannot judge",
    explanation=(
        "This entry comes from a HAR file whose {fields} values were removed when it was "
        "exported (browsers do so by default). What depends on them (missing credentials, "
        "tokens, session cookies) cannot be judged from this capture, so authlens says "
        "nothing rather than guess."
    ),
    fix=(
        "Export with the sensitive data kept (Chrome/Edge DevTools: Network → Export HAR "
        '(with sensitive data), after enabling "Allow to generate HAR with sensitive data" '
        "in DevTools settings; Firefox keeps them), or capture through mitmproxy directly. "
        "Treat such a HAR as secret."
    ),
    references=("HAR 1.2 (W3C draft) §log.entries",),
)

# -- comparison with an accepted request (detected by authlens.compare; next issue) ------------

MISSING_SESSION_COOKIE = Diagnosis(
    id="missing-session-cookie",
    severity=E,
    title="The session cookie is missing",
    headline="the accepted request carried the session cookie {cookie}; this one did not",
    explanation=(
        "The accepted request ({baseline}) carried the cookie {cookie}, which looks like a "
        "session cookie, and this refused request did not. The server authenticates by "
        "that cookie, so without it the request is anonymous."
    ),
    fix=(
        "Log in through the same flow and reuse the cookie jar: requests `Session()`, httpx "
        "`Client()`, curl `-c jar -b jar`. Check the cookie's Domain, Path, Secure and "
        "SameSite attributes: a Secure cookie is not sent over http://, a SameSite=Strict "
        "one not on cross-site requests."
    ),
    references=("RFC 6265 §5.4",),
)

MISSING_CSRF_TOKEN = Diagnosis(
    id="missing-csrf-token",
    severity=E,
    title="The anti-CSRF token is missing",
    headline="the accepted request carried the anti-CSRF token {token}; this one did not",
    explanation=(
        "The accepted request ({baseline}) carried {token}, an anti-forgery token, and this "
        "refused one did not. Frameworks refuse state-changing requests without it, some "
        "with 401 instead of 403."
    ),
    fix=(
        "Read the token from the page or cookie the server sets (e.g. `XSRF-TOKEN` cookie, "
        '`<meta name="csrf-token">`) and send it back in the header the framework expects '
        "(`X-XSRF-TOKEN`, `X-CSRFToken`, `RequestVerificationToken`)."
    ),
    references=("OWASP CSRF Prevention Cheat Sheet",),
)

CLIENT_FINGERPRINT_REJECTED = Diagnosis(
    id="client-fingerprint-rejected",
    severity=E,
    title="The server refuses this client, not its credentials",
    headline="same credentials, different client: {differences}",
    explanation=(
        "The same credentials were accepted from {baseline} but refused here; what differs "
        "is the client itself ({differences}). The server or a bot-protection layer in "
        "front of it refuses clients that do not look like a browser."
    ),
    fix=(
        "Use the API meant for scripts if there is one. Otherwise send what the browser "
        "sends that matters (the decisive differences above), or drive a real browser "
        "(Playwright). Ask the site operator before working around bot protection."
    ),
    references=("RFC 9110 §10.1.5",),
)

# -- authlens itself -------------------------------------------------------------------------------

INTERNAL_ERROR = Diagnosis(
    id="internal-error",
    severity=W,
    title="authlens failed on this flow",
    headline="authlens could not judge this flow ({error})",
    explanation=(
        "authlens hit an internal error ({error}) while judging this flow, so its diagnosis "
        "is incomplete. The traffic itself was not changed."
    ),
    fix="Please report it with the flow (redacted HAR export) so it can be fixed.",
)

CATALOGUE: tuple[Diagnosis, ...] = (
    MISSING_CREDENTIALS,
    NO_RETRY,
    CREDENTIALS_REJECTED,
    SCHEME_MISMATCH,
    TOKEN_EXPIRED,
    TOKEN_NOT_YET_VALID,
    INVALID_TOKEN,
    INSUFFICIENT_SCOPE,
    DIGEST_STALE_NONCE,
    DIGEST_MISMATCH,
    CONNECTION_AUTH_BROKEN,
    KERBEROS_FALLBACK,
    CREDENTIALS_DROPPED_ON_REDIRECT,
    PROXY_AUTH_REQUIRED,
    WRONG_AUTH_HEADER,
    PREFLIGHT_REQUIRES_AUTH,
    MISSING_CHALLENGE,
    MALFORMED_CHALLENGE,
    CLEARTEXT_CREDENTIALS,
    MISSING_SESSION_COOKIE,
    MISSING_CSRF_TOKEN,
    CLIENT_FINGERPRINT_REJECTED,
    IIS_SUBSTATUS,
    LOCKOUT_SUSPECTED,
    LOGIN_REDIRECT,
    REFUSED_BY_MITMPROXY,
    CHANNEL_BINDING_BROKEN,
    BASIC_CHARSET_MISMATCH,
    HAR_SANITIZED,
    INTERNAL_ERROR,
)

#: Declared but not yet detected anywhere (exempt from the one-detector check). Empty: the
#: comparison IDs are detected by ``rules/comparison.py``.
DEFERRED: frozenset[Diagnosis] = frozenset()

#: What the browser-versus-script comparison detects (``authlens.compare``).
COMPARISON: frozenset[Diagnosis] = frozenset(
    {MISSING_SESSION_COOKIE, MISSING_CSRF_TOKEN, CLIENT_FINGERPRINT_REJECTED}
)

#: Made by the engine's guard, not by a detector.
ENGINE_EMITTED: frozenset[Diagnosis] = frozenset({INTERNAL_ERROR})

#: When the key is diagnosed, the values are dropped from the same flow: the key explains
#: the same refusal better, and listing both would send the user to the wrong fix.
SUPERSEDES: Mapping[Diagnosis, frozenset[Diagnosis]] = {
    PREFLIGHT_REQUIRES_AUTH: frozenset({MISSING_CREDENTIALS, NO_RETRY}),
    REFUSED_BY_MITMPROXY: frozenset({PROXY_AUTH_REQUIRED, MISSING_CREDENTIALS}),
    CREDENTIALS_DROPPED_ON_REDIRECT: frozenset({MISSING_CREDENTIALS, NO_RETRY}),
    WRONG_AUTH_HEADER: frozenset({MISSING_CREDENTIALS, NO_RETRY}),
    SCHEME_MISMATCH: frozenset({CREDENTIALS_REJECTED}),
    # Without a challenge there is nothing to answer: "no-retry" would blame the client.
    MISSING_CHALLENGE: frozenset({NO_RETRY}),
    # The 407's own diagnosis already says whether proxy credentials were sent or never came.
    PROXY_AUTH_REQUIRED: frozenset({NO_RETRY, MISSING_CREDENTIALS}),
}

#: When the key is diagnosed, the values stay (they are still true) but rank lower, with a
#: pointer to the key: "credentials-rejected" is the symptom of a more specific cause.
_SPECIFIC_REFUSALS = (
    TOKEN_EXPIRED,
    TOKEN_NOT_YET_VALID,
    DIGEST_MISMATCH,
    CONNECTION_AUTH_BROKEN,
    CHANNEL_BINDING_BROKEN,
    BASIC_CHARSET_MISMATCH,
    IIS_SUBSTATUS,
    REFUSED_BY_MITMPROXY,
    CREDENTIALS_DROPPED_ON_REDIRECT,
)
DEMOTES: Mapping[Diagnosis, frozenset[Diagnosis]] = {
    cause: frozenset({CREDENTIALS_REJECTED, INVALID_TOKEN}) for cause in _SPECIFIC_REFUSALS
}

_BY_ID: dict[str, Diagnosis] = {d.id: d for d in CATALOGUE}
if len(_BY_ID) != len(CATALOGUE):  # pragma: no cover - caught by the tests at once
    raise RuntimeError("duplicate diagnosis ID in the catalogue")


def by_id(diagnosis_id: str) -> Diagnosis:
    """The entry for an ID (for readers of stored metadata). Raises KeyError if unknown."""
    return _BY_ID[diagnosis_id]
