"""mitmproxy entry script for an installed authlens: ``mitmproxy -s "$(python -m authlens --script)"``."""

from authlens.mitm.addon import AuthLens
from authlens.mitm.compare_addon import AuthLensCompare
from authlens.mitm.export import AuthLensExport

# AuthLens first: its `done` settles the last verdicts before the export writes them.
addons = [AuthLens(), AuthLensCompare(), AuthLensExport()]
