"""The stable API (DESIGN.md §2) and the core's independence from mitmproxy."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import authlens

CORE = Path(authlens.__file__).parent


def test_all_matches_the_public_namespace() -> None:
    public = {name for name in vars(authlens) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(authlens, name)).__name__ == "module"}
    assert set(authlens.__all__) - {"__version__"} == public - modules


def test_parse_challenges_shape() -> None:
    (c,) = authlens.parse_challenges('Digest realm="api", nonce="n", qop="auth"')
    assert c.scheme == "Digest"
    assert c.params == {"realm": "api", "nonce": "n", "qop": "auth"}
    assert c.token68 is None
    assert isinstance(c.decoded, dict)
    doc = c.to_json()
    assert {"field", "scheme", "params", "token68", "decoded"} <= doc.keys()
    json.dumps(doc)


def test_decode_credentials_never_exposes_the_secret() -> None:
    cred = authlens.decode_credentials("Basic YWxpY2U6czNjcjN0")  # alice:s3cr3t
    text = json.dumps(cred.to_json()) + repr(cred) + str(cred.summary)
    assert "s3cr3t" not in text and "YWxpY2U6czNjcjN0" not in text
    assert cred.field == "Authorization"


def _core_modules() -> list[str]:
    names = []
    for path in CORE.rglob("*.py"):
        rel = path.relative_to(CORE.parent).with_suffix("")
        if "mitm" in rel.parts or rel.name in ("__main__", "cli"):
            continue
        names.append(".".join(p for p in rel.parts if p != "__init__"))
    return sorted(names)


def test_core_imports_no_mitmproxy_in_a_fresh_interpreter() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {_core_modules()!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'mitmproxy')\n"
        "assert not bad, bad\n"
    )
    env_path = str(CORE.parent)
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": env_path})


def test_core_has_no_mitmproxy_import_anywhere_not_even_inside_functions() -> None:
    for path in CORE.rglob("*.py"):
        if "mitm" in path.relative_to(CORE).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "mitmproxy" for n in names), path
