"""mitmproxy entry script for a plain checkout: ``mitmproxy -s addon/authlens_addon.py``.

mitmproxy puts a script's own directory on ``sys.path``, so ``authlens`` (beside this file)
imports without installing anything.
"""

from authlens.mitm.addon import AuthLens

addons = [AuthLens()]
