"""Recognising well-known token formats by their documented prefixes.

Many providers prefix their tokens so that leaked ones can be found by secret scanners
(GitHub ``ghp_``, Slack ``xoxb-``, GitLab ``glpat-`` …). Naming the kind of token tells
the user which service it belongs to, e.g. a GitHub token sent to a GitLab API. Only the
name is reported, never any part of the value.
"""

from __future__ import annotations

import re

# (prefix, id, description); the first match wins, so longer prefixes come first.
PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("github_pat_", "github-fine-grained-pat", "GitHub fine-grained personal access token"),
    ("ghp_", "github-pat", "GitHub personal access token (classic)"),
    ("gho_", "github-oauth", "GitHub OAuth access token"),
    ("ghu_", "github-user-to-server", "GitHub App user access token"),
    ("ghs_", "github-installation", "GitHub App installation access token"),
    ("ghr_", "github-refresh", "GitHub refresh token"),
    ("glpat-", "gitlab-pat", "GitLab personal access token"),
    ("gloas-", "gitlab-oauth-secret", "GitLab OAuth application secret"),
    ("glrt-", "gitlab-runner", "GitLab runner token"),
    ("xoxb-", "slack-bot", "Slack bot token"),
    ("xoxp-", "slack-user", "Slack user token"),
    ("xoxe.", "slack-refresh", "Slack refresh token"),
    ("xoxe-", "slack-refresh", "Slack refresh token"),
    ("xoxa-", "slack-app", "Slack app token"),
    ("xoxr-", "slack-refresh", "Slack refresh token"),
    ("xoxs-", "slack-session", "Slack session token"),
    ("xoxc-", "slack-client", "Slack client token"),
    ("xapp-", "slack-app-level", "Slack app-level token"),
    ("sk_live_", "stripe-secret-live", "Stripe live secret key"),
    ("sk_test_", "stripe-secret-test", "Stripe test secret key"),
    ("rk_live_", "stripe-restricted-live", "Stripe live restricted key"),
    ("rk_test_", "stripe-restricted-test", "Stripe test restricted key"),
    ("pk_live_", "stripe-publishable-live", "Stripe live publishable key"),
    ("pk_test_", "stripe-publishable-test", "Stripe test publishable key"),
    ("sk-ant-", "anthropic-key", "Anthropic API key"),
    ("sk-proj-", "openai-project-key", "OpenAI project API key"),
    ("sk-", "sk-key", "secret API key in the 'sk-' style (e.g. OpenAI)"),
    ("ya29.", "google-oauth", "Google OAuth 2.0 access token"),
    ("1//", "google-refresh", "Google OAuth 2.0 refresh token"),
    ("npm_", "npm-token", "npm access token"),
    ("pypi-", "pypi-token", "Python package index API token"),
    ("hf_", "huggingface", "Hugging Face access token"),
    ("dop_v1_", "digitalocean", "DigitalOcean personal access token"),
    ("doo_v1_", "digitalocean-oauth", "DigitalOcean OAuth token"),
    ("shpat_", "shopify-admin", "Shopify Admin API access token"),
    ("shpca_", "shopify-custom-app", "Shopify custom app access token"),
    ("SG.", "sendgrid", "SendGrid API key"),
    ("AKIA", "aws-access-key-id", "AWS access key ID (not a bearer token)"),
    ("ASIA", "aws-temporary-access-key-id", "AWS temporary access key ID (not a bearer token)"),
    ("v1.local.", "paseto", "PASETO token (v1.local)"),
    ("v1.public.", "paseto", "PASETO token (v1.public)"),
    ("v2.local.", "paseto", "PASETO token (v2.local)"),
    ("v2.public.", "paseto", "PASETO token (v2.public)"),
    ("v3.local.", "paseto", "PASETO token (v3.local)"),
    ("v3.public.", "paseto", "PASETO token (v3.public)"),
    ("v4.local.", "paseto", "PASETO token (v4.local)"),
    ("v4.public.", "paseto", "PASETO token (v4.public)"),
    ("gAAAAA", "fernet", "Fernet token (e.g. OpenStack Keystone)"),
)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def identify_token(token: str) -> tuple[str, str] | None:
    """``(id, description)`` of a token whose prefix names its issuer, or None."""
    for prefix, kind, description in PREFIXES:
        if token.startswith(prefix) and len(token) > len(prefix) + 8:
            return kind, description
    return None


def token_shape(token: str) -> str:
    """A coarse shape for opaque tokens: "uuid", "hex", or "opaque"."""
    if _UUID.fullmatch(token):
        return "uuid"
    if len(token) >= 16 and _HEX.fullmatch(token):
        return "hex"
    return "opaque"
