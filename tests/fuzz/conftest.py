"""Fuzz suite setup: hypothesis profiles and the strategies module on the import path.

Profiles (registered in strategies.py):

- ``authlens-fuzz`` (default): few examples per property, the whole directory in < 60 s;
- ``long``: thousands of examples per property, for a long run. Select it with
  ``AUTHLENS_FUZZ=long python -m pytest tests/fuzz`` or
  ``python -m pytest tests/fuzz --hypothesis-profile=long``.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import strategies  # noqa: E402,F401  (registers the profiles before hypothesis loads one)
