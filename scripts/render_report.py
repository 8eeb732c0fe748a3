"""Screenshot a motionfit HTML report in headless Chromium, to check that it renders.

    python scripts/render_report.py report.html [--out report.png] [--width 1280] [--height 2000]

Needs a Chromium-family browser on PATH (``apt-get install -y --no-install-recommends
chromium``). The page must render offline: the report is self-contained, and networking,
updates and sync are switched off. Exit 2 with one line when no browser is found or the
screenshot fails.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT_SECONDS = 120


def find_browser() -> str | None:
    """The first Chromium-family browser on PATH, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def render(html: Path, png: Path, width: int = 1280, height: int = 2000) -> Path:
    """Write a ``width`` x ``height`` screenshot of ``html`` to ``png``; RuntimeError naming
    the cause when there is no browser or it fails."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError(f"no Chromium browser on PATH (looked for: {', '.join(BROWSERS)})")
    if not html.is_file():
        raise RuntimeError(f"no such report: {html}")
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png.resolve()}",
            f"--window-size={width},{height}",
            html.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    if done.returncode != 0 or not png.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{browser} exited {done.returncode} without a screenshot: {last}")
    return png


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: render the report, print the PNG path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="HTML report to render")
    parser.add_argument("--out", type=Path, help="PNG to write (default: REPORT.png)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args(argv)
    out = args.out or args.report.with_suffix(".png")
    try:
        render(args.report, out, args.width, args.height)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
