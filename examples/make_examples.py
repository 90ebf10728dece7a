"""Regenerate the example captures and their reports in this directory.

    python examples/make_examples.py

Runs the scenarios of ``authlens demo`` (a local server, real mitmdump processes, real
clients; loopback only) once, splits the capture by scenario into ``<name>.mitm`` (a
mitmproxy flow file) and ``<name>.har`` (mitmproxy's HAR of the same flows, as a browser
or another tool would hand it over), and writes ``<name>.html`` with ``authlens analyze``.

The captures hold the demo's made-up test passwords and tokens, never real ones; the
reports are redacted as always.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "addon"))  # a plain checkout works without installing

from mitmproxy import http  # noqa: E402
from mitmproxy.addons.savehar import SaveHar  # noqa: E402
from mitmproxy.io import FlowReader, FlowWriter  # noqa: E402

from authlens import demo  # noqa: E402
from authlens.commands.analyze import analyze_files  # noqa: E402

MAX_BYTES = 200_000


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="authlens-examples-") as work:
        with demo.record(Path(work)) as capture, capture.flow_file.open("rb") as fo:
            flows = [f for f in FlowReader(fo).stream() if isinstance(f, http.HTTPFlow)]
        for scenario in demo.SCENARIOS:
            mine = [f for f in flows if urlsplit(f.request.url).path in scenario.paths]
            if not mine:
                print(f"{scenario.name}: no flows captured", file=sys.stderr)
                return 1
            _write(scenario.name, mine)
            print(f"{scenario.name}: {len(mine)} flows  ({scenario.summary})")
    return 0


def _write(name: str, flows: list[http.HTTPFlow]) -> None:
    for flow in flows:  # the inputs are raw captures: no annotations from the demo run
        flow.comment = ""
        flow.marked = ""
        flow.metadata.pop("authlens", None)
    mitm = HERE / f"{name}.mitm"
    with mitm.open("wb") as fo:
        writer = FlowWriter(fo)
        for flow in flows:
            writer.add(flow)
    (HERE / f"{name}.har").write_text(json.dumps(SaveHar().make_har(flows), indent=1) + "\n")
    html = HERE / f"{name}.html"
    outcome = analyze_files([str(mitm)], html=str(html), title=f"authlens example: {name}")
    outcome.session.close()
    for path in (mitm, HERE / f"{name}.har", html):
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(f"{path.name} is {size:,} bytes, over {MAX_BYTES:,}")


if __name__ == "__main__":
    sys.exit(main())
