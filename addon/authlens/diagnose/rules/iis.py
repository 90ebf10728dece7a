"""Detector for IIS sub-status codes (401.1, 401.2, ...) named in IIS error pages.

IIS logs a sub-status for every 401/403 and, on its detailed error pages (and on the
classic ones of IIS 6/7), prints it: "HTTP Error 401.2 - Unauthorized", "401.1 - Logon
failed". The sub-status is far more precise than the status: 401.2 says *no enabled
method matched*, 401.3 says *authenticated, but the file ACL denies it*. The response body
prefix is searched once, with one linear regex.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from authlens.diagnose.catalogue import IIS_SUBSTATUS
from authlens.diagnose.rules import Context, Hit, detects, hit, summary_text
from authlens.findings import Severity
from authlens.handshake import Answer, LegKind

_BODY_SCAN = 16 * 1024
_CODE = re.compile(rb"\b(40[13])\.(\d{1,3})\b")
_LOGON = re.compile(
    rb"Logon (Method|User)</th>\s*<td>(?:&nbsp;|\s)*([^<]{1,80})</td>", re.IGNORECASE
)
_IIS_HINTS = (b"Internet Information Services", b"IIS ", b"Detailed Error", b"HTTP Error 40")


@dataclass(frozen=True, slots=True)
class SubStatus:
    meaning: str
    cause: str
    action: str
    severity: Severity | None = None


SUBSTATUS: dict[str, SubStatus] = {
    "401.1": SubStatus(
        "Logon failed",
        "IIS passed the credentials to Windows and Windows refused them: a wrong user name "
        "or password, an unknown, disabled or locked account, or (for NTLM/Kerberos to a "
        "host name on the same machine) the loopback check.",
        "Check the user name with its domain and the password. The server's Security event "
        "log (event 4625) names the exact reason in its Status/Sub Status codes. For local "
        "tests with a host name, see BackConnectionHostNames / DisableLoopbackCheck.",
    ),
    "401.2": SubStatus(
        "Logon failed due to server configuration",
        "The request used no authentication method that is enabled for this URL: anonymous "
        "access is off and the client sent no credentials, or credentials in a scheme IIS "
        "does not offer here (e.g. Basic when only Windows Authentication is enabled). On "
        "the first request of a handshake this is normal.",
        "Make the client use a scheme listed in WWW-Authenticate, or enable the scheme it "
        "uses in IIS Manager → Authentication (Windows Authentication providers: Negotiate, "
        "NTLM). If no request with credentials follows, the client never tried.",
    ),
    "401.3": SubStatus(
        "Unauthorized due to ACL on resource",
        "The user authenticated, but the file system permissions (ACL) of the file or folder "
        "do not let that user (or, for anonymous access, IUSR / the application pool "
        "identity) read it.",
        "Grant Read on the content to the user or group (icacls), or to IUSR and "
        "'IIS AppPool\\<pool>' for anonymous access. Credentials will not help.",
    ),
    "401.4": SubStatus(
        "Authorization failed by filter",
        "An ISAPI filter installed on the site or server refused the request.",
        "Check the ISAPI filters of the site (IIS Manager → ISAPI Filters) and their logs.",
    ),
    "401.5": SubStatus(
        "Authorization failed by ISAPI/CGI application",
        "The ISAPI extension or CGI program handling this URL refused the credentials itself.",
        "Look at the application's own authentication configuration and logs.",
    ),
    "401.501": SubStatus(
        "Access denied: too many concurrent requests from this client IP",
        "Dynamic IP Restrictions refused the client for exceeding the concurrent request limit.",
        "Lower the client's parallelism, or raise denyByConcurrentRequests in Dynamic IP Restrictions.",
    ),
    "401.502": SubStatus(
        "Access denied: too many requests from this client IP",
        "Dynamic IP Restrictions refused the client for exceeding the request rate limit.",
        "Slow the client down, or raise denyByRequestRate in Dynamic IP Restrictions.",
    ),
    "401.503": SubStatus(
        "Access denied: the IP address is in the deny list",
        "IP and Domain Restrictions deny this client's address.",
        "Allow the address in IP Address and Domain Restrictions, or call from an allowed network.",
    ),
    "401.504": SubStatus(
        "Access denied: the host name is in the deny list",
        "IP and Domain Restrictions deny this client's host name.",
        "Allow the host in IP Address and Domain Restrictions.",
    ),
    "403.4": SubStatus(
        "SSL required",
        "The site requires https; the request came over plain http.",
        "Use https:// (and redirect http to https on the server).",
    ),
    "403.6": SubStatus(
        "IP address rejected",
        "IP Address and Domain Restrictions deny this client's address.",
        "Allow the address, or call from an allowed network.",
    ),
    "403.7": SubStatus(
        "Client certificate required",
        "The site requires a TLS client certificate and the client sent none.",
        "Send a client certificate (curl --cert, requests cert=, httpx cert=); through "
        "mitmproxy, configure it with --set client_certs=DIR.",
    ),
    "403.16": SubStatus(
        "Client certificate untrusted or invalid",
        "The client certificate does not chain to a CA the server trusts, or is revoked.",
        "Use a certificate issued by a CA the server trusts; check the server's CTL and CRL access.",
    ),
    "403.17": SubStatus(
        "Client certificate has expired or is not yet valid",
        "The client certificate is outside its validity period.",
        "Renew the client certificate (and check the client's clock).",
    ),
    "403.502": SubStatus(
        "Forbidden: too many requests from this client IP",
        "Dynamic IP Restrictions refused the client for its request rate.",
        "Slow the client down, or raise the limits in Dynamic IP Restrictions.",
    ),
    "403.503": SubStatus(
        "Forbidden: the IP address is in the deny list",
        "IP and Domain Restrictions deny this client's address.",
        "Allow the address, or call from an allowed network.",
    ),
}


@detects(IIS_SUBSTATUS)
def iis_substatus(ctx: Context) -> Iterator[Hit]:
    response = ctx.exchange.response
    if response is None or response.status_code not in (401, 403) or not response.body:
        return
    # Only a code of this status counts, and it reads "401." or "403.": a cheap substring
    # search settles most bodies (a bare "401 Unauthorized" page) without the regex.
    if response.body.find(b"401." if response.status_code == 401 else b"403.", 0, _BODY_SCAN) < 0:
        return
    body = response.body[:_BODY_SCAN]
    found: str | None = None
    for m in _CODE.finditer(body):
        code = f"{m.group(1).decode()}.{m.group(2).decode()}"
        if code in SUBSTATUS and code.startswith(str(response.status_code)):
            found = code
            break
    if found is None:
        return
    entry = SUBSTATUS[found]
    server = response.headers.get("Server") or ""
    iis = server.lower().startswith("microsoft-iis") or any(h in body for h in _IIS_HINTS)
    evidence = [f"the error page names IIS sub-status {found} ({entry.meaning})"]
    if server:
        evidence.append(f"Server: {summary_text(server, 60)}")
    for label, value in _LOGON.findall(body)[:2]:
        evidence.append(
            f"Logon {label.decode('latin-1')}: {summary_text(value.decode('latin-1').strip(), 60)}"
        )
    severity = entry.severity
    if (
        found == "401.2"
        and ctx.view.kind is LegKind.CHALLENGE
        and ctx.view.answer is not Answer.UNANSWERED
    ):
        severity = Severity.INFO  # the normal first leg of Windows authentication
    yield hit(
        evidence,
        0.95 if iis else 0.7,
        severity,
        code=found,
        meaning=entry.meaning,
        cause=entry.cause,
        action=entry.action,
    )
