"""Fetch small public real-footage action/gesture video datasets and lay them out for motionfit.

    python scripts/fetch_real_footage.py --out DIR [--mirror NAME=GITDIR ...] [--dataset NAME ...]

Each dataset lives inside a public GitHub repository. The script fetches the pinned commit
(``git fetch --depth 1`` of that commit, falling back to the default branch with a warning), or
reads an existing local clone given with ``--mirror NAME=PATH`` (bare or non-bare git directory;
no network then). Fetches are kept in ``DIR/.git-cache/NAME.git``. Videos are read straight
from the git objects, so no checkout (and no Git LFS smudge) is needed.

Output, per dataset NAME::

    DIR/raw/NAME/...                       the videos as found in the repository
    DIR/NAME/{train,test}/CLASS/VIDEO      class-per-folder layout, test = held-out sessions
    DIR/NAME/INFO.md                       source, commit, classes, counts, resolution, fps, ...

The test split holds out whole recording sessions, identified by the ``creation_time`` date in
each video's container metadata (the file names carry no subject id): clips recorded on or after
the dataset's cut-off date go to test, the rest (including clips without that tag) to train.
Blobs missing from a partial mirror (e.g. a snapshot that omits large files) and Git LFS pointers
are skipped with a warning and listed in INFO.md. Needs ``git`` on PATH and PyAV.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import av

LFS_MAGIC = b"version https://git-lfs.github.com/spec/"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Source:
    """A dataset inside a public GitHub repository, and how to split it."""

    name: str
    repo: str
    commit: str
    prefix: str
    pattern: str
    test_from: str
    license: str
    description: str
    exclude: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


SOURCES = (
    Source(
        name="egogestar",
        repo="varunj/EgoGestAR",
        commit="90188de86b59723b1eee390f0c7cbd73421cbf9a",
        prefix="testvideo/",
        pattern=r"testvideo_(?P<cls>[a-z]+)_\d+\.mp4",
        test_from="2017-07-18",
        license="none stated in the repository (no LICENSE file); research dataset, cite "
        "the PointGestAR/EgoGestAR authors",
        description="Egocentric (head-mounted smartphone view) pointing-finger gestures drawn "
        "in the air, recorded by several users in varying rooms and lighting: "
        "carret = caret '^', circlecc = counter-clockwise circle, del = 'X', "
        "down/left/right/up = swipes, square, star, tick = check mark.",
        exclude=("unclassified",),
        notes=(
            "`unclassified` (20 random hand movements, all from the later sessions) is left out.",
            "Test: the 2017-07-18 session (uploaded as 'Added 50 TestVideos Archie') and the "
            "2017-07-31 to 2017-10-11 sessions (a later upload). Train: the 2017-07-10 to "
            "2017-07-16 sessions ('Added Gaurav Videos') plus the first upload (2017-07-22), "
            "whose 99 clips were re-encoded (Lavf) and carry no date.",
            "Besides people and rooms, the test clips differ in encoding: mostly 3gp/mpeg4 from "
            "phones at 15-30 fps, against mostly h264 at 10-30 fps in train.",
        ),
    ),
    Source(
        name="basketball",
        repo="jennycs0830/basketball_action_dataset",
        commit="e7626e72744b7845327a9516bbdfe5b679e71e61",
        prefix="dataset/",
        pattern=r"(?P<cls>[a-z]+)/[a-z]+_\d+\.mp4",
        test_from="2025-03-14",
        license="none stated; the README says the footage comes from a university team's "
        "private game videos, used with the coach's permission - keep it to local testing",
        description="0.3 s clips (5-10 frames at 24 fps) of one basketball player, "
        "screen-recorded from full-court game footage and cropped on an iPhone to a small "
        "portrait box around the player.",
        notes=(
            "Sessions are the dates the clips were cropped/exported (no player or game id is "
            "available); the 95 re-encoded (Lavf, h264) clips carry no date and go to train.",
        ),
    ),
)


def git(git_dir: Path | None, *args: str, data: bytes | None = None) -> bytes:
    """Run ``git`` (on ``git_dir`` when given) and return its stdout; CalledProcessError
    on failure."""
    prefix = ["--git-dir", str(git_dir)] if git_dir is not None else []
    result = subprocess.run(["git", *prefix, *args], input=data, capture_output=True, check=True)
    return result.stdout


def resolve_git_dir(path: Path) -> Path:
    """The git directory of a bare or non-bare repository at ``path``."""
    if (path / ".git").is_dir():
        return path / ".git"
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        return path
    raise SystemExit(f"not a git repository: {path}")


def clone_pinned(source: Source, cache: Path) -> Path:
    """Fetch ``source.commit`` (depth 1) into ``cache/<name>.git``; return the git directory.

    Falls back to the default branch when the server will not serve the commit by id.
    """
    git_dir = cache / f"{source.name}.git"
    if not git_dir.exists():
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        git(None, "init", "-q", "--bare", str(git_dir))
        git(git_dir, "remote", "add", "origin", f"https://github.com/{source.repo}.git")
    try:
        git(git_dir, "fetch", "-q", "--depth", "1", "origin", source.commit)
    except subprocess.CalledProcessError:
        print(
            f"warning: {source.repo}: cannot fetch {source.commit[:12]}, using the default branch",
            file=sys.stderr,
        )
        git(git_dir, "fetch", "-q", "--depth", "1", "origin", "HEAD")
        git(git_dir, "update-ref", "HEAD", "FETCH_HEAD")
    return git_dir


def pick_commit(git_dir: Path, source: Source) -> str:
    """The pinned commit when ``git_dir`` has it, else its HEAD (with a warning)."""
    try:
        return (
            git(git_dir, "rev-parse", "--verify", "-q", f"{source.commit}^{{commit}}")
            .decode()
            .strip()
        )
    except subprocess.CalledProcessError:
        head = git(git_dir, "rev-parse", "HEAD").decode().strip()
        print(
            f"warning: {source.name}: {source.commit[:12]} not in {git_dir}, using HEAD "
            f"{head[:12]}",
            file=sys.stderr,
        )
        return head


def list_videos(git_dir: Path, commit: str, source: Source) -> list[tuple[str, str, str]]:
    """``(path, blob id, class)`` for every matching video of ``source`` at ``commit``."""
    listing = git(git_dir, "ls-tree", "-r", "-z", commit, source.prefix)
    regex = re.compile(re.escape(source.prefix) + source.pattern)
    videos = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, path = entry.decode().split("\t", 1)
        match = regex.fullmatch(path)
        if match and meta.split()[1] == "blob":
            videos.append((path, meta.split()[2], match["cls"]))
    return sorted(videos)


def available_blobs(git_dir: Path, blobs: list[str]) -> set[str]:
    """The subset of ``blobs`` whose objects are present in ``git_dir``."""
    query = "".join(f"{blob}\n" for blob in blobs).encode()
    out = git(git_dir, "cat-file", "--batch-check", data=query)
    return {line.split()[0] for line in out.decode().splitlines() if not line.endswith("missing")}


def creation_date(path: Path) -> str:
    """The ``YYYY-MM-DD`` of the container's ``creation_time`` tag, or '' when absent."""
    with av.open(str(path)) as container:
        return (container.metadata.get("creation_time") or "")[:10]


def probe(path: Path) -> dict:
    """Width, height, average fps, codec, duration (s) and frame count (from the container,
    else fps x duration) of the first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = (container.duration or 0) / av.time_base
        return {
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "fps": float(stream.average_rate or 0),
            "codec": stream.codec_context.name,
            "duration": duration,
            "frames": stream.frames or round(float(stream.average_rate or 0) * duration),
        }


def spread(values: list[float], digits: int = 2) -> str:
    """``min / median / max`` of ``values`` as text, trailing decimal zeros dropped."""

    def text(value: float) -> str:
        """``value`` with ``digits`` decimals, trailing zeros dropped."""
        formatted = f"{value:.{digits}f}"
        return formatted.rstrip("0").rstrip(".") if "." in formatted else formatted

    return " / ".join(text(v) for v in (min(values), statistics.median(values), max(values)))


def write_info(source: Source, commit: str, root: Path, skipped: list[str]) -> None:
    """Write ``root/INFO.md`` describing the prepared ``train``/``test`` folders."""
    items = {split: sorted((root / split).glob("*/*")) for split in SPLITS}
    classes = sorted({p.parent.name for split in SPLITS for p in items[split]})
    stats = {split: [probe(p) for p in items[split]] for split in SPLITS}
    every = stats["train"] + stats["test"]
    lines = [
        f"# {source.name}",
        "",
        f"- Source: https://github.com/{source.repo} at commit `{commit}`",
        f"- License: {source.license}",
        f"- Content: {source.description}",
        f"- Classes ({len(classes)}): {', '.join(classes)}",
        f"- Clips: {len(every)} (train {len(stats['train'])}, test {len(stats['test'])})",
        "",
        "| class | train | test |",
        "| --- | ---: | ---: |",
    ]
    counts = {split: Counter(p.parent.name for p in items[split]) for split in SPLITS}
    lines += [f"| {c} | {counts['train'][c]} | {counts['test'][c]} |" for c in classes]
    lines += [
        "",
        "| split | width | height | fps | duration s | frames | codecs |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for split, rows in (*stats.items(), ("all", every)):
        codecs = ", ".join(f"{k} {v}" for k, v in Counter(r["codec"] for r in rows).most_common())
        frames = [r["frames"] for r in rows]
        lines.append(
            f"| {split} | {spread([r['width'] for r in rows], 0)} | "
            f"{spread([r['height'] for r in rows], 0)} | {spread([r['fps'] for r in rows], 1)} | "
            f"{spread([r['duration'] for r in rows])} | {spread(frames, 0)} | {codecs} |"
        )
    lines += [
        "",
        "(width, height, fps, duration, frames: min / median / max)",
        "",
        "## Split",
        "",
        f"Group-aware by recording session: a clip goes to `test` when the `creation_time` tag "
        f"in its mp4 container is {source.test_from} or later, otherwise to `train` (each dated "
        "session lies wholly in one split).",
        "",
        *(f"- {note}" for note in source.notes),
    ]
    if skipped:
        lines += ["", f"Skipped ({len(skipped)}): " + ", ".join(f"`{s}`" for s in skipped)]
    lines += ["", "Made by `scripts/fetch_real_footage.py` (motionfit)."]
    (root / "INFO.md").write_text("\n".join(lines) + "\n")


def output_dirs(source: Source, out: Path) -> tuple[Path, Path]:
    """The raw folder and the train/test root of ``source`` under ``out``."""
    return out / "raw" / source.name, out / source.name


def prepare(source: Source, git_dir: Path, out: Path) -> None:
    """Extract ``source``'s videos from ``git_dir`` under ``out`` and lay out train/test."""
    raw, root = output_dirs(source, out)
    for target in (raw, root):
        if target.exists():
            shutil.rmtree(target)
    commit = pick_commit(git_dir, source)
    videos = list_videos(git_dir, commit, source)
    present = available_blobs(git_dir, [blob for _, blob, _ in videos])
    skipped: list[str] = []
    counts: Counter[str] = Counter()
    for path, blob, cls in videos:
        relative = path[len(source.prefix) :]
        if blob not in present:
            skipped.append(f"{relative} (not in this copy of the repository)")
            continue
        data = git(git_dir, "cat-file", "blob", blob)
        if data.startswith(LFS_MAGIC):
            skipped.append(f"{relative} (Git LFS pointer)")
            continue
        raw_path = raw / relative
        raw_path.parent.mkdir(parents=True, exist_ok=True)
        raw_path.write_bytes(data)
        if cls in source.exclude:
            continue
        split = "test" if creation_date(raw_path) >= source.test_from else "train"
        target = root / split / cls / raw_path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw_path, target)
        counts[split] += 1
    for item in skipped:
        print(f"warning: {source.name}: skipped {item}", file=sys.stderr)
    write_info(source, commit, root, skipped)
    print(f"{source.name}: {counts['train']} train + {counts['test']} test clips in {root}")


def parse_mirrors(values: list[str]) -> dict[str, Path]:
    """``NAME=PATH`` pairs from ``--mirror`` into a dict."""
    mirrors = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--mirror takes NAME=PATH, got {value!r}")
        mirrors[name] = Path(path).expanduser()
    return mirrors


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    names = [s.name for s in SOURCES]
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="use a local git clone (bare or not) for dataset NAME",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        choices=names,
        help="prepare only this dataset (repeatable; default: all)",
    )
    parser.add_argument("--force", action="store_true", help="replace existing output folders")
    args = parser.parse_args(argv)
    mirrors = parse_mirrors(args.mirror)
    unknown = set(mirrors) - set(names)
    if unknown:
        raise SystemExit(f"unknown dataset in --mirror: {', '.join(sorted(unknown))}")
    chosen = [s for s in SOURCES if not args.dataset or s.name in args.dataset]
    existing = [p for s in chosen for p in output_dirs(s, args.out) if p.exists()]
    if existing and not args.force:
        raise SystemExit(f"{existing[0]} exists; pass --force to replace it")
    for source in chosen:
        try:
            if source.name in mirrors:
                git_dir = resolve_git_dir(mirrors[source.name])
            else:
                git_dir = clone_pinned(source, args.out / ".git-cache")
            prepare(source, git_dir, args.out)
        except subprocess.CalledProcessError as error:
            message = error.stderr.decode(errors="replace").strip().splitlines()
            detail = message[-1] if message else f"exit status {error.returncode}"
            raise SystemExit(f"{source.name}: git {' '.join(error.cmd[1:])}: {detail}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
