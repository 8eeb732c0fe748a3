"""How long do the config commands take, before and after the config became a schema?

    python benchmarks/config_load.py [--before 9e5f4e1] [--repeats 5]

Checks out ``--before`` (default: the last commit before issue 20 step 2, when ``config.py``
imported the data layer and every model family) into a temporary git worktree and times, in
fresh interpreters, each command below from that tree and from this one, interleaved per
repeat (best of ``--repeats``):

- ``config show demo``: the CLI loads, validates and prints a recipe;
- ``load_config('demo')``: the Python API does the same without the CLI;
- ``motionfit models``: the registry, for the models table (cards cached).

Prints a table with the ratio before / after; the machine's load moves both columns alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "config show demo": ["-m", "motionfit.cli.main", "config", "show", "demo"],
    "load_config('demo')": ["-c", "from motionfit.config import load_config; load_config('demo')"],
    "motionfit models": ["-m", "motionfit.cli.main", "models"],
}


def seconds(source: Path, arguments: list[str]) -> float:
    """Wall time of one fresh interpreter running ``arguments`` with ``source`` first on the
    path (stdout discarded; a failure stops the benchmark)."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *arguments], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Time every command from both trees and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="9e5f4e1")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(before), args.before],
            check=True,
        )
        try:
            trees = {"before": before / "src", "after": ROOT / "src"}
            best = {(name, tree): float("inf") for name in COMMANDS for tree in trees}
            for _ in range(args.repeats):
                for name, arguments in COMMANDS.items():
                    for tree, source in trees.items():
                        best[name, tree] = min(best[name, tree], seconds(source, arguments))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)])
    print(f"before = {args.before}, after = this tree; best of {args.repeats} runs\n")
    print("| command | before s | after s | before / after |")
    print("|---|---|---|---|")
    for name in COMMANDS:
        old, new = best[name, "before"], best[name, "after"]
        print(f"| {name} | {old:.2f} | {new:.2f} | {old / new:.1f}x |")


if __name__ == "__main__":
    main()
