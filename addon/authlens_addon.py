"""mitmproxy entry script for a plain checkout: ``mitmproxy -s addon/authlens_addon.py``.

mitmproxy puts a script's own directory on ``sys.path``, so ``authlens`` (beside this file)
imports without installing anything.
"""

from authlens.mitm.addon import AuthLens
from authlens.mitm.compare_addon import AuthLensCompare
from authlens.mitm.export import AuthLensExport

# AuthLens first: its `done` settles the last verdicts before the export writes them.
addons = [AuthLens(), AuthLensCompare(), AuthLensExport()]
