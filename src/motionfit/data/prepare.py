"""``motionfit data prepare``: transcode a dataset once into a copy that is fast to train from.

Each video (or frame folder) of a dataset that :func:`~motionfit.data.records.read_records`
reads becomes an h264 (yuv420p) mp4 with a short keyframe interval (``gop``), its short side
scaled down to ``short_side`` (never up), at a stated quality (x264 ``crf`` 23, tuned for fast
decoding), without audio. Frame ``k`` of the copy is frame ``k`` of the source with the same
timestamp, unless ``fps`` asks for a constant frame rate (each output frame is then the source
frame shown at its time).

The copy keeps the dataset's structure and labels: a folder-per-class (or unlabeled) tree is
copied as a tree, any list-type source (list/CSV, UCF101, HMDB51, rawframes list) becomes
``OUT/<name>.csv`` with ``labels.txt`` beside it; either is what ``motionfit train --data``
reads. ``OUT/manifest.jsonl`` holds each copy's frame count, frame rate, size, duration and
packet index, so training reads them instead of demuxing the file (:func:`use_manifests`).

Work is resumable: each copy is written to a hidden temporary file and renamed when complete,
and ``OUT/.prepare/done.jsonl`` logs finished copies, so a killed run continues where it
stopped. The settings are recorded (``OUT/.prepare/settings.json``) before the first copy, so
a rerun with other settings is refused unless ``force`` (which then transcodes everything
again). SIGTERM or SIGINT stops the work after the videos being transcoded are dropped
(:class:`~motionfit.stopping.Interrupted`, exit 143 or 130); worker processes never outlive
the command. Encoding is deterministic (x264's macroblock tree off), so preparing the same
source twice gives the same pixels. Unreadable inputs are skipped and listed in
``OUT/skipped.tsv``. ``OUT`` goes through the output guard of :mod:`motionfit.output_dir`
(kind ``prepare``); nothing is written outside it. The source and ``OUT`` may be in object
storage (:mod:`motionfit.data.storage`): a bucket ``OUT`` is prepared in a local staging folder
(resumable there) and uploaded when complete, the manifest last.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path, PurePosixPath

import av
import numpy as np

from motionfit.atomic import atomic_write_text
from motionfit.data import _pyav, storage
from motionfit.data.decode import DEFAULT_IMAGE_FPS, remember_index, scaled_size
from motionfit.data.frames import FrameFolder, read_frame_images, scan_frame_folder
from motionfit.data.records import LABELS_FILE, LabelMap, VideoRecord, absolute, read_records
from motionfit.data.storage import as_path
from motionfit.errors import ConfigError, DataError, OutputError, VideoDecodeError
from motionfit.output_dir import (
    MARKER_FILE,
    check_output_dir,
    claim_output_dir,
    releases_output_locks,
)
from motionfit.stopping import StopRequest, ignore_stop_signals

MANIFEST = "manifest.jsonl"
"""File name of the manifest in the prepared folder (one JSON object per video)."""
SKIPPED = "skipped.tsv"
"""File name of the list of unreadable inputs (``source<TAB>reason``)."""
OUTPUT_KIND = "prepare"  # the kind in the .motionfit marker of a prepared folder
_STATE = ".prepare"  # hidden: read_records ignores it
_SETTINGS = "settings.json"
_DONE = "done.jsonl"
_HMDB_SELECTOR = re.compile(r"(train|test)[1-3]?")


@dataclass(frozen=True)
class PrepareSettings:
    """How each video is transcoded."""

    short_side: int = 256
    """Scale frames down so the shorter side has this length (smaller videos keep their size)."""
    gop: int = 16
    """Keyframe interval in frames (a clip decode starts at most this many frames early)."""
    crf: int = 23
    """x264 constant rate factor (x264's default; 18 is visually lossless, +6 halves the size)."""
    fps: float | None = None
    """Constant output frame rate; ``None`` keeps every frame and its timestamp."""
    preset: str = "veryfast"
    """x264 speed preset."""
    fast_decode: bool = True
    """x264 ``tune=fastdecode`` (no CABAC, no deblocking): ~1.5x cheaper clips, ~10% larger."""

    def check(self) -> None:
        """Raise :class:`ConfigError` for an out-of-range value."""
        if self.short_side < 16:
            raise ConfigError(f"--short-side must be >= 16, got {self.short_side}")
        if not 1 <= self.gop <= 600:
            raise ConfigError(f"--gop must be between 1 and 600 frames, got {self.gop}")
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"--crf must be between 0 and 51, got {self.crf}")
        if self.fps is not None and not 0 < self.fps <= 240:
            raise ConfigError(f"--fps must be between 0 and 240, got {self.fps}")


@dataclass(frozen=True)
class PrepareResult:
    """What :func:`prepare_dataset` did."""

    dataset: Path
    """What ``motionfit train --data`` reads: the prepared folder or its list file."""
    manifest: Path
    prepared: int
    """Videos transcoded by this call."""
    reused: int
    """Videos already done by an earlier (interrupted) call and kept."""
    skipped: list[tuple[Path, str]]
    """Unreadable inputs and why (also in ``OUT/skipped.tsv``)."""


@dataclass(frozen=True)
class _Job:
    source: Path
    target: Path
    relative: str


@releases_output_locks  # the output's lock ends with the call
def prepare_dataset(
    source: str | Path,
    out: str | Path,
    settings: PrepareSettings | None = None,
    *,
    format: str = "auto",
    video_root: str | Path | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    force: bool = False,
) -> PrepareResult:
    """Transcode the dataset ``source`` into ``out`` (see the module docstring).

    ``workers`` processes transcode in parallel (default: one per CPU; 1 = in this process).
    ``progress`` shows a rich progress bar with ETA on stderr (default: when it is a terminal).
    Raises :class:`DataError` if ``out`` is, or is inside, the source folder, or would replace
    an input; :class:`~motionfit.errors.OutputError` for an ``out`` holding other files, or
    prepared with other settings, unless ``force``; :class:`ConfigError` for bad settings.
    """
    settings = settings or PrepareSettings()
    settings.check()
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers must be >= 0 (0 = one per CPU), got {workers}")
    if storage.is_url(out):
        return _prepare_to_bucket(
            source, str(out), settings, format, video_root, workers, progress, force
        )
    records, label_map = read_records(source, format=format, video_root=video_root)
    head, _, selector = str(source).rpartition("@")  # HMDB51 'splits@train1'
    source_path = absolute(as_path(head if _HMDB_SELECTOR.fullmatch(selector) else str(source)))
    out = Path(os.path.abspath(out))
    root = source_path if _is_folder_source(source_path) else _common_folder(records)
    _check_out(out, root, source_path, records)
    state = out / _STATE
    if not (state / _SETTINGS).is_file() or (out / MARKER_FILE).exists():  # else: made before
        check_output_dir(  # the marker, ours
            out, OUTPUT_KIND, force=force, inputs=[source_path, root, video_root], option="OUT"
        )
    fresh = _check_settings(state / _SETTINGS, settings, force)
    jobs = _plan(records, root, out)
    claim_output_dir(out, OUTPUT_KIND, option="OUT")
    state.mkdir(exist_ok=True)
    if fresh:  # the settings go first: a rerun with others knows what these files are
        (state / _DONE).unlink(missing_ok=True)
        atomic_write_text(state / _SETTINGS, json.dumps(asdict(settings)))
    done = _finished(state / _DONE, out)
    todo = [job for job in dict.fromkeys(jobs.values()) if job.relative not in done]
    reused = len(set(jobs.values())) - len(todo)
    skipped: dict[Path, str] = {}
    with (state / _DONE).open("a", encoding="utf-8") as log:
        for job, entry, error in _run(todo, settings, workers, progress):
            if error is not None:
                skipped[job.source] = error
                continue
            done[job.relative] = entry
            log.write(json.dumps(entry) + "\n")
            log.flush()
    manifest = _write_outputs(out, source_path, records, label_map, jobs, done, skipped)
    return PrepareResult(
        dataset=manifest.parent if _is_folder_source(source_path) else _list_path(out, source_path),
        manifest=manifest,
        prepared=len(todo) - len(skipped),
        reused=reused,
        skipped=sorted(skipped.items()),
    )


def _prepare_to_bucket(
    source: str | Path,
    url: str,
    settings: PrepareSettings,
    format: str,
    video_root: str | Path | None,
    workers: int | None,
    progress: bool | None,
    force: bool,
) -> PrepareResult:
    """Prepare into a local staging folder (``$MOTIONFIT_CACHE/prepare/<hash of url>``, which
    keeps the work resumable), then upload it to ``url``: the videos first, the manifest, labels
    and list last. A ``url`` holding objects that are not a motionfit output is refused unless
    ``force``."""
    fs = storage.filesystem(url)
    existing = fs.find(url) if fs.exists(url) else []
    if existing and not fs.exists(f"{url.rstrip('/')}/{MARKER_FILE}") and not force:
        raise OutputError(
            f"OUT {url} holds {len(existing)} objects that are not a motionfit output; choose "
            "another prefix or pass --force"
        )
    staging = storage.cache_dir().parent / "prepare" / hashlib.sha256(url.encode()).hexdigest()[:16]
    local = prepare_dataset(
        source,
        staging,
        settings,
        format=format,
        video_root=video_root,
        workers=workers,
        progress=progress,
        force=force,
    )
    last = (MANIFEST, LABELS_FILE, local.dataset.relative_to(staging).as_posix())
    storage.upload_folder(staging, url, last=tuple(name for name in last if name != "."))
    root = as_path(url.rstrip("/"))
    return replace(
        local, dataset=root / local.dataset.relative_to(staging), manifest=root / MANIFEST
    )


def transcode(source: Path, target: Path, settings: PrepareSettings) -> dict:
    """Transcode one video file or frame folder to the mp4 ``target`` (written to a hidden
    temporary file, then renamed) and return its manifest entry (without ``path``).

    Raises :class:`VideoDecodeError` if ``source`` cannot be read.
    """
    frames, times, rate = _source_frames(source)
    width, height = _even(*scaled_size(*frames.size, _short_side(frames.size, settings)))
    if settings.fps is None:
        time_base = _time_base(frames.time_base, rate)
        pts = np.round(times / float(time_base)).astype(np.int64)
        picks = np.arange(len(times))
        out_rate = rate
    else:
        out_rate = Fraction(settings.fps).limit_denominator(1001)
        count = max(1, round(frames.duration * float(out_rate)))
        out_times = np.arange(count) / float(out_rate)
        picks = np.searchsorted(times, out_times + 1e-6, side="right") - 1
        time_base, pts = 1 / out_rate, np.arange(count)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    try:
        _encode(partial, frames, picks, pts, time_base, out_rate, (width, height), settings)
        index = _pyav.index_video(partial)
        if index.num_frames != len(picks):
            raise VideoDecodeError(
                f"{source}: the copy has {index.num_frames} frames, expected {len(picks)}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    info = target.stat()
    return {
        "source": str(source),
        **_index_entry(index),
        "bytes": info.st_size,
        "mtime_ns": info.st_mtime_ns,
    }


def load_manifest(path: str | Path) -> dict[Path, tuple[int, int, _pyav.PacketIndex]]:
    """Absolute video path (or URL) -> (size, mtime_ns, packet index) for each entry of a
    manifest (local or in object storage)."""
    path = as_path(path)
    known = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        video = absolute(path.parent / entry["path"])
        known[video] = (entry["bytes"], entry["mtime_ns"], _entry_index(entry))
    return known


def use_manifests(paths: Iterable[Path]) -> int:
    """Find the ``manifest.jsonl`` of prepared folders holding ``paths`` (looked up in each
    video's folder and its parents) and let decoding use their indexes instead of probing the
    files; returns the number of videos covered. Unreadable manifests are ignored."""
    folders = {as_path(p).parent for p in paths}
    seen: set[Path] = set()
    manifests = []
    for folder in folders:
        for parent in (folder, *folder.parents):
            if parent in seen:
                break
            seen.add(parent)
            if (parent / MANIFEST).is_file():
                manifests.append(parent / MANIFEST)
    count = 0
    for manifest in manifests:
        try:
            known = load_manifest(manifest)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for video, (size, mtime_ns, index) in known.items():
            remember_index(video, index, size, mtime_ns)
        count += len(known)
    return count


# ---------------------------------------------------------------------------------------------
# planning and safety


def _common_folder(records: list[VideoRecord]) -> Path:
    folders = {r.path.parent for r in records}
    common = next(iter(folders))
    while not all(f == common or common in f.parents for f in folders):
        common = common.parent
    return common


def _check_out(out: Path, root: Path, source: Path, records: list[VideoRecord]) -> None:
    """Refuse an output folder that could overwrite or mix with the inputs."""
    for folder in {root, source} if source.is_dir() else {root}:
        if out == folder or folder in out.parents:
            raise DataError(f"output folder {out} is inside the source {folder}; choose another")
    if out.exists() and not out.is_dir():
        raise DataError(f"output {out} is a file, not a folder")
    if any(r.path == out or out in r.path.parents for r in records):
        raise DataError(f"output folder {out} holds input videos; choose another")


def _plan(records: list[VideoRecord], root: Path, out: Path) -> dict[Path, _Job]:
    """Input path -> its job; outputs keep their path below ``root`` with suffix ``.mp4``
    (``name.avi.mp4`` when two inputs would share a name)."""
    jobs: dict[Path, _Job] = {}
    taken: set[str] = set()
    for path in dict.fromkeys(r.path for r in records):
        relative = PurePosixPath(str(path)[len(str(root)) :].lstrip("/"))
        if path.is_dir():  # a frame folder
            name = relative.with_name(relative.name + ".mp4")
        else:
            name = relative.with_suffix(".mp4")
        if name.as_posix() in taken:
            name = relative.with_name(relative.name + ".mp4")
        taken.add(name.as_posix())
        jobs[path] = _Job(path, out / name, name.as_posix())
    return jobs


def _check_settings(path: Path, settings: PrepareSettings, force: bool) -> bool:
    """True when ``settings`` are new to the folder (none recorded, or other ones and
    ``force``: everything is transcoded again); :class:`OutputError` for other recorded
    settings without ``force``. Writes nothing."""
    wanted = asdict(settings)
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    if before == wanted:
        return False
    if force:
        return True
    raise OutputError(
        f"OUT {path.parent.parent} was prepared with other settings ({before}); use a new "
        "output folder or the same options, or pass --force to prepare it again with these"
    )


def _finished(log: Path, out: Path) -> dict[str, dict]:
    """Entries of copies finished by earlier calls whose file is still there, unchanged; a
    torn last line (a kill while writing it) is ignored."""
    done: dict[str, dict] = {}
    if not log.is_file():
        return done
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            info = (out / entry["path"]).stat()
        except (ValueError, KeyError, OSError):
            continue
        if (info.st_size, info.st_mtime_ns) == (entry["bytes"], entry["mtime_ns"]):
            done[entry["path"]] = entry
    return done


# ---------------------------------------------------------------------------------------------
# running


def _run(
    jobs: list[_Job], settings: PrepareSettings, workers: int | None, progress: bool | None
) -> Iterator[tuple[_Job, dict, str | None]]:
    """(job, manifest entry, None) or (job, {}, reason) per job, as they finish. SIGTERM or
    SIGINT stops it between videos: the workers are ended, and
    :class:`~motionfit.stopping.Interrupted` says how many videos are done."""
    from motionfit.progress import progress_bar

    workers = workers or os.cpu_count() or 1
    stop = StopRequest()
    finished = 0
    with progress_bar("preparing", enabled=progress) as bar, stop.installed():
        task = bar.add_task("prepare", total=len(jobs))
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                result = _job(job, settings)
                bar.advance(task)
                finished += 1
                yield job, *result
                _raise_if_stopped(stop, finished, len(jobs))
            return
        others = set(multiprocessing.active_children())
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), initializer=ignore_stop_signals
        )
        try:
            pending: dict[Future, _Job] = {pool.submit(_job, j, settings): j for j in jobs}
            while pending:
                ready, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in ready:
                    job = pending.pop(future)
                    bar.advance(task)
                    finished += 1
                    yield job, *future.result()
                _raise_if_stopped(stop, finished, len(jobs))
        except BaseException:
            _end_pool(pool, [p for p in multiprocessing.active_children() if p not in others])
            raise
        pool.shutdown(wait=True)


def _raise_if_stopped(stop: StopRequest, finished: int, total: int) -> None:
    stop.raise_if_pending(
        f"after {finished} of {total} videos; run the same command again to prepare the rest"
    )


def _end_pool(
    pool: ProcessPoolExecutor, workers: list[multiprocessing.process.BaseProcess]
) -> None:
    """Shut ``pool`` down without waiting for the videos still being transcoded (an
    interruption drops them; their partial files are replaced by the next run)."""
    # shutdown(wait=False) forgets the manager thread, so a later shutdown(wait=True) does
    # not join it; joined here, it has closed its wake-up pipe before the interpreter's exit
    # hook writes to it ("Exception ignored ... Bad file descriptor" otherwise)
    manager = pool._executor_manager_thread
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:  # no public call ends an executor's busy workers (until 3.14)
        worker.kill()
        worker.join()
    if manager is not None:
        manager.join()  # type: ignore[attr-defined]  # typeshed mistypes it as _ThreadWakeup


def _job(job: _Job, settings: PrepareSettings) -> tuple[dict, str | None]:
    try:
        entry = transcode(job.source, job.target, settings)
    except VideoDecodeError as error:
        return {}, _reason(error, job.source)
    return {"path": job.relative, **entry}, None


def _reason(error: VideoDecodeError, source: Path) -> str:
    """The error's message without the leading path (however the decoder wrote it): the
    skipped list and messages name the path once."""
    text = " ".join(str(error).split())
    local = [] if storage.is_url(source) else [os.path.realpath(source), os.path.abspath(source)]
    for prefix in {str(source), *local}:
        text = text.removeprefix(f"{prefix}: ")
    return text


def _write_outputs(
    out: Path,
    source: Path,
    records: list[VideoRecord],
    label_map: LabelMap,
    jobs: dict[Path, _Job],
    done: dict[str, dict],
    skipped: dict[Path, str],
) -> Path:
    """The manifest, labels, list file (list-type sources) and skipped list, each atomic."""
    kept = [r for r in records if jobs[r.path].relative in done]
    if not kept:
        raise DataError(f"{source}: no video could be read; see {out / SKIPPED}")
    entries = dict.fromkeys(jobs[r.path].relative for r in kept)
    manifest = atomic_write_text(
        out / MANIFEST, "".join(json.dumps(done[name]) + "\n" for name in entries)
    )
    if len(label_map):
        label_map.save(out / LABELS_FILE)
    if not _is_folder_source(source):
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(("path", "label", "start", "end", "group"))
        for r in kept:
            label = ";".join(label_map.name_of(k) for k in r.labels) or None  # all, multi-label
            cells = (jobs[r.path].relative, label, r.start, r.end, r.group)
            writer.writerow("" if c is None else c for c in cells)
        atomic_write_text(_list_path(out, source), text.getvalue())
    (out / SKIPPED).unlink(missing_ok=True)
    if skipped:
        listing = "".join(f"{path}\t{reason}\n" for path, reason in sorted(skipped.items()))
        atomic_write_text(out / SKIPPED, listing)
    return manifest


def _is_folder_source(source: Path) -> bool:
    return source.is_dir() and not any(source.glob("*_test_split*.txt"))


def _list_path(out: Path, source: Path) -> Path:
    return out / f"{source.stem if source.is_file() else source.name}.csv"


# ---------------------------------------------------------------------------------------------
# decoding and encoding


@dataclass(frozen=True)
class _Frames:
    """The frames of one source, in order, with what the encoder needs to know."""

    frames: Iterator[av.VideoFrame]
    size: tuple[int, int]
    time_base: Fraction | None
    duration: float


def _source_frames(source: Path) -> tuple[_Frames, np.ndarray, Fraction]:
    """(frames, frame times in seconds, nominal frame rate) of a video file or frame folder."""
    if source.is_dir():
        folder = scan_frame_folder(source)
        count = len(folder.files)
        times = np.arange(count) / DEFAULT_IMAGE_FPS
        frames = _Frames(
            _image_frames(folder), (folder.width, folder.height), None, count / DEFAULT_IMAGE_FPS
        )
        return frames, times, Fraction(DEFAULT_IMAGE_FPS)
    file = storage.local_copy(source)
    with storage.named_as(source, file):
        index = _pyav.index_video(file)
    frames = _Frames(
        _pyav.iter_frames(file, index),
        (index.width, index.height),
        index.time_base,
        index.duration(),
    )
    return frames, index.frame_times(), Fraction(index.fps).limit_denominator(1001)


def _image_frames(folder: FrameFolder, chunk: int = 32) -> Iterator[av.VideoFrame]:
    for first in range(0, len(folder.files), chunk):
        indices = np.arange(first, min(first + chunk, len(folder.files)))
        images = read_frame_images(folder, indices, folder.width, folder.height)
        for image in images.permute(0, 2, 3, 1).contiguous().numpy():
            yield av.VideoFrame.from_ndarray(image, format="rgb24")


def _encode(
    path: Path,
    frames: _Frames,
    picks: np.ndarray,
    pts: np.ndarray,
    time_base: Fraction,
    rate: Fraction,
    size: tuple[int, int],
    settings: PrepareSettings,
) -> None:
    """Encode output frame ``j`` = source frame ``picks[j]`` at ``pts[j]`` (in ``time_base``)."""
    repeats = np.bincount(picks, minlength=int(picks.max()) + 1)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        stream.options = _x264_options(settings)
        written = 0
        for number, frame in enumerate(frames.frames):
            if number >= len(repeats):
                break
            if not repeats[number]:
                continue
            image = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            image.pict_type = av.video.frame.PictureType.NONE  # keyframes by gop, not the source
            for _ in range(repeats[number]):
                image.pts = int(pts[written])
                image.time_base = time_base
                container.mux(stream.encode(image))
                written += 1
        container.mux(stream.encode())
    if written != len(picks):
        raise VideoDecodeError(f"{path}: wrote {written} of {len(picks)} frames")


def _x264_options(settings: PrepareSettings) -> dict[str, str]:
    return {
        "crf": str(settings.crf),
        "preset": settings.preset,
        "g": str(settings.gop),
        "keyint_min": str(settings.gop),
        "sc_threshold": "0",  # keyframes exactly every gop frames, not at scene cuts
        "threads": "1",  # the worker processes are the parallelism
        # the macroblock tree read leftover heap memory: the same source gave pixels up to 51
        # grey levels apart from one run to the next (see data/encode.py); off, it is exact
        "x264-params": "mbtree=0",
        **({"tune": "fastdecode"} if settings.fast_decode else {}),
    }


def _short_side(size: tuple[int, int], settings: PrepareSettings) -> int | None:
    return settings.short_side if min(size) > settings.short_side else None


def _even(width: int, height: int) -> tuple[int, int]:
    """yuv420p needs even dimensions."""
    return max(2, width - width % 2), max(2, height - height % 2)


def _time_base(time_base: Fraction | None, rate: Fraction) -> Fraction:
    """A time base fine enough for the source's timestamps (its own, or 1/rate)."""
    return time_base if time_base else 1 / rate


# ---------------------------------------------------------------------------------------------
# manifest entries


def _index_entry(index: _pyav.PacketIndex) -> dict:
    pts = index.frame_pts
    steps = np.diff(pts) if pts is not None else np.empty(0)
    entry: dict = {
        "frames": index.num_frames,
        "fps": index.num_frames / index.duration() if index.variable_rate else index.fps,
        "width": index.width,
        "height": index.height,
        "duration": index.duration(),
        "stream": index.stream_index,
        "time_base": str(index.time_base),
        "key_frames": index.key_frames.tolist(),
        "key_pts": index.key_pts.tolist(),
    }
    if pts is not None and steps.size and np.all(steps == steps[0]):
        entry["pts_start"], entry["pts_step"] = int(pts[0]), int(steps[0])
    else:
        entry["pts"] = None if pts is None else pts.tolist()
    return entry


def _entry_index(entry: dict) -> _pyav.PacketIndex:
    if "pts_step" in entry:
        pts = entry["pts_start"] + entry["pts_step"] * np.arange(entry["frames"], dtype=np.int64)
    else:
        pts = None if entry["pts"] is None else np.asarray(entry["pts"], dtype=np.int64)
    return _pyav.PacketIndex(
        stream_index=entry["stream"],
        num_frames=entry["frames"],
        fps=entry["fps"],
        width=entry["width"],
        height=entry["height"],
        frame_pts=pts,
        key_frames=np.asarray(entry["key_frames"], dtype=np.int64),
        key_pts=np.asarray(entry["key_pts"], dtype=np.int64),
        truncated=False,
        time_base=Fraction(entry["time_base"]) if entry["time_base"] != "None" else None,
    )
