"""mitmproxy entry script for an installed authlens: ``mitmproxy -s "$(python -m authlens --script)"``."""

from authlens.mitm.addon import AuthLens

addons = [AuthLens()]
