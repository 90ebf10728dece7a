"""Make the package importable from a plain checkout (addon/ is the source root)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "addon") not in sys.path:
    sys.path.insert(0, str(ROOT / "addon"))
