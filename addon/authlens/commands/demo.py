"""``authlens demo``: run the built-in scenarios through a real mitmproxy and write the
reports (see :mod:`authlens.demo`)."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from pathlib import Path

from authlens.commands._base import EXIT_OK, UsageError
from authlens.report.terminal import Style, printable

OUTPUT_FILES = ("report.html", "annotated.har", "analysis.json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="show authlens at work: typical failures through a real mitmproxy, on loopback",
        description=(
            "Starts a local server (127.0.0.1) with typical authentication failures, sends "
            "real requests through a real mitmdump running the authlens addon, and writes "
            f"{', '.join(OUTPUT_FILES)} into the output directory. Nothing leaves this machine; "
            "every password and token is a made-up demo value."
        ),
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        default="authlens-demo",
        help="where to write the reports (default: ./authlens-demo)",
    )
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from authlens import demo
    from authlens.commands.analyze import analyze_files, render_text, write_json
    from authlens.mitm.export import atomic_text

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out}: {exc.strerror or exc}") from None
    style = Style.for_stream(sys.stdout)
    print(
        style.bold("authlens demo: ")
        + f"{len(demo.SCENARIOS)} scenarios, real requests through mitmdump "
        f"(mitmproxy {_mitmproxy_version()}) to a local server on 127.0.0.1 …",
        flush=True,
    )
    try:
        with demo.record() as capture:
            outcome = analyze_files(
                [str(capture.flow_file)],
                html=str(out / "report.html"),
                har=str(out / "annotated.har"),
                title="authlens demo",
            )
    except demo.DemoError as exc:
        raise UsageError(f"demo could not run: {exc}") from None
    try:
        with atomic_text(out / "analysis.json") as fo:
            write_json(fo, outcome.session.results)
        outcome.written.append(("JSON", str(out / "analysis.json")))
        lines = ["", style.bold("What the clients saw")]
        for o in capture.outcomes:
            seen = str(o.status) if o.status is not None else f"failed ({o.error})"
            lines.append(f"  {o.scenario:<22} {o.client:<13} {printable(seen, 120)}")
        print("\n".join(lines) + "\n", flush=True)
        sys.stdout.write(render_text(outcome, style))
    finally:
        outcome.session.close()
    print(
        f"\nDone in {capture.seconds:.1f} s. Open {out / 'report.html'} in a browser; "
        "run `authlens analyze FILE --html report.html` on your own capture, or "
        "`authlens web` to watch live traffic."
    )
    return EXIT_OK


def _mitmproxy_version() -> str:
    # From the installed distribution: only authlens.mitm may import mitmproxy itself.
    try:
        return importlib.metadata.version("mitmproxy")
    except importlib.metadata.PackageNotFoundError:
        return "?"
