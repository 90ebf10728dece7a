"""Detectors about redirects: credentials lost on the way, and login pages as "soft 401"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

from authlens.credentials import AUTHORIZATION
from authlens.diagnose.catalogue import CREDENTIALS_DROPPED_ON_REDIRECT, LOGIN_REDIRECT
from authlens.diagnose.rules import Context, Hit, detects, hit, summary_text
from authlens.findings import Severity
from authlens.report.har import redact_url

# Path segments and query keys that mark a sign-in page or an identity provider's
# authorization endpoint. Matched per segment, so "/blog/logins-explained" does not count.
_LOGIN_SEGMENTS = re.compile(
    r"^(?:login|log-in|logon|signin|sign-in|sign_in|auth|authenticate|authorize|"
    r"sso|saml2?|oauth2?|openid-connect|oidc|cas|adfs|ls|account|accounts|session|"
    r"sessions|users|idp|connect|wp-login\.php|login\.aspx|login\.php|login\.jsp|"
    r"signin\.aspx|j_security_check)$",
    re.IGNORECASE,
)
# Segments that settle it on their own; the others above need a second hint.
_STRONG_SEGMENTS = re.compile(
    r"^(?:login|log-in|logon|signin|sign-in|sign_in|sso|saml2?|authorize|adfs|"
    r"wp-login\.php|login\.aspx|login\.php|login\.jsp|signin\.aspx)$",
    re.IGNORECASE,
)
_LOGIN_QUERY = re.compile(
    r"(?:^|&)(?:returnurl|return_url|returnto|return_to|redirect_uri|redirect_url|"
    r"redirect|next|continue|service|goto|relaystate|samlrequest|client_id|"
    r"response_type)=",
    re.IGNORECASE,
)
_IDP_HOSTS = re.compile(
    r"(?:^|\.)(?:login\.microsoftonline\.com|login\.live\.com|accounts\.google\.com|"
    r"okta\.com|oktapreview\.com|auth0\.com|onelogin\.com|login\.salesforce\.com|"
    r"amazoncognito\.com|cloudflareaccess\.com|pingone\.com|duosecurity\.com)$",
    re.IGNORECASE,
)
_MAX_COOKIES_SHOWN = 5


def login_location(request_url: str, location: str) -> str | None:
    """The absolute login URL ``location`` points to, or None if it is not a login page.

    A redirect to the page the request already was on (a login form posting to itself)
    does not count.
    """
    try:
        target = urljoin(request_url, location.strip()[:2048])
        parts = urlsplit(target)
        here = urlsplit(request_url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    strong = any(_STRONG_SEGMENTS.match(s) for s in segments)
    weak = any(_LOGIN_SEGMENTS.match(s) for s in segments)
    query = bool(_LOGIN_QUERY.search(parts.query))
    idp = bool(_IDP_HOSTS.search(host))
    if not (strong or idp or (weak and query)):
        return None
    if parts.path == here.path and host == (here.hostname or "").lower():
        return None
    return target


@detects(CREDENTIALS_DROPPED_ON_REDIRECT)
def credentials_dropped_on_redirect(ctx: Context) -> Iterator[Hit]:
    ref = ctx.view.redirect
    if ref is None or ctx.status not in (401, 403, 407):
        return
    if ref.field in ctx.request.headers or ctx.is_unknown(ref.field):
        return
    yield hit(
        [
            f"{ref.from_exchange}: {ref.field}: {ref.scheme} … sent to {ref.from_origin}, "
            f"answered {ref.status}",
            f"this request to {ctx.request.origin} carried no {ref.field} and got {ctx.status}",
            f"client: {ctx.client.name or ctx.client.kind}",
        ],
        0.9,
        field=ref.field,
        from_origin=ref.from_origin,
        to_origin=ref.to_origin,
    )


@detects(LOGIN_REDIRECT)
def login_redirect(ctx: Context) -> Iterator[Hit]:
    response = ctx.exchange.response
    if response is None or not 300 <= response.status_code < 400:
        return
    location = response.headers.get("Location")
    if not location:
        return
    target = login_location(ctx.request.url, location)
    if target is None:
        return
    cookie_names = _cookie_names(ctx)
    # Secret-named query values (an OAuth code, a SAML request, a ticket) fingerprinted,
    # as the HAR export shows the Location header.
    shown = summary_text(redact_url(target), 100)
    evidence = [f"{response.status_code} Location: {shown}"]
    navigation = (ctx.request.headers.get("Sec-Fetch-Mode") or "").lower() == "navigate"
    severity: Severity | None = None
    if ctx.client.is_browser and navigation:
        severity = Severity.INFO
        evidence.append("a browser navigation: showing the sign-in page is the normal flow")
    if ctx.is_unknown("cookie"):
        cookies = "the cookies were removed from this capture"
        sentence = "Whether the request carried a session cookie cannot be told from this capture."
        confidence = 0.6
    elif cookie_names:
        listed = ", ".join(cookie_names[:_MAX_COOKIES_SHOWN])
        cookies = f"the cookies sent ({listed}) did not count as a session"
        sentence = (
            f"The request carried cookies ({listed}), but the server did not accept them as a "
            "session: expired, for another path or domain, or from another login."
        )
        evidence.append(f"cookies sent: {listed}")
        confidence = 0.7
    else:
        cookies = "no cookies were sent"
        sentence = "The request carried no cookies, so it had no session to show."
        confidence = 0.85
    if AUTHORIZATION in ctx.request.headers:
        evidence.append("the request carried Authorization, which this site ignores")
    yield hit(
        evidence, confidence, severity, location=shown, cookies=cookies, cookie_sentence=sentence
    )


def _cookie_names(ctx: Context) -> list[str]:
    names: list[str] = []
    for value in ctx.request.headers.get_all("Cookie"):
        for part in value.split(";"):
            name = part.split("=", 1)[0].strip()
            if name and name not in names:
                names.append(summary_text(name, 40))
    return names
