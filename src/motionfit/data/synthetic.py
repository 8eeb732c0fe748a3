"""A procedural motion dataset: classes defined by motion alone, written as real h264 videos.

Each video shows one textured object moving on a random background among distractors.
The class is the object's motion (left/right, up/down, clockwise/counter-clockwise,
grow/shrink, ...); shape, colour, texture, size, background, start position, speed and
distractors are random, so only motion separates the classes. ``shortcut`` ties the
background colour to the class with a probability, to catch models that learn appearance.

``multi_label``: each video shows two objects; the first moves with the video's class, the
second with a class drawn at random (sometimes the same one); the clip's labels are both
motions, written as ``videos/NAME.mp4 a;b`` lines in ``list.txt`` (the list format's
multi-label form).

Rendering is hand-written numpy (no library draws these scenes); encoding uses PyAV.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from motionfit.atomic import atomic_write_text
from motionfit.data.encode import write_video
from motionfit.errors import DataError, OutputError
from motionfit.output_dir import MARKER_FILE, check_output_dir
from motionfit.stopping import ignore_stop_signals

# Each motion maps progress p in [0, 1] to (dx, dy, turn, grow): the offset from the path's
# middle in units of the travel distance (-0.5..0.5), the rotation in units of the full turn,
# and the relative size change (-1..1). Pairs differ only by direction or by time order.
MOTIONS: dict[str, Callable[[float], tuple[float, float, float, float]]] = {
    "move_left": lambda p: (0.5 - p, 0.0, 0.0, 0.0),
    "move_right": lambda p: (p - 0.5, 0.0, 0.0, 0.0),
    "move_up": lambda p: (0.0, 0.5 - p, 0.0, 0.0),
    "move_down": lambda p: (0.0, p - 0.5, 0.0, 0.0),
    "rotate_clockwise": lambda p: (0.0, 0.0, p - 0.5, 0.0),
    "rotate_counterclockwise": lambda p: (0.0, 0.0, 0.5 - p, 0.0),
    "grow": lambda p: (0.0, 0.0, 0.0, 2 * p - 1),
    "shrink": lambda p: (0.0, 0.0, 0.0, 1 - 2 * p),
    "move_up_right": lambda p: ((p - 0.5) * 0.7, (0.5 - p) * 0.7, 0.0, 0.0),
    "move_up_left": lambda p: ((0.5 - p) * 0.7, (0.5 - p) * 0.7, 0.0, 0.0),
    "bounce_horizontal": lambda p: (abs(1.0 - 2.0 * p) - 0.5, 0.0, 0.0, 0.0),
    "bounce_vertical": lambda p: (0.0, abs(1.0 - 2.0 * p) - 0.5, 0.0, 0.0),
}

# Pairs that a horizontal flip swaps (use as augment.flip_label_map).
FLIP_PAIRS = {
    "move_left": "move_right",
    "rotate_clockwise": "rotate_counterclockwise",
    "move_up_right": "move_up_left",
}

SHAPES = ("circle", "square", "triangle", "cross", "bar", "ell")
ORIENTED_SHAPES = ("triangle", "cross", "bar", "ell")  # rotation is visible on these
TEXTURES = ("solid", "stripes", "checker", "dots")
METADATA_FILE = "synth.json"
MULTI_LABEL_LIST = "list.txt"  # a multi-label dataset's list of videos and their labels
OUTPUT_KIND = "synth"  # the kind in the .motionfit marker of a synthetic dataset folder
RENDER_VERSION = 5  # bump when rendering or encoding changes, so cached datasets are made again
_INCOMPLETE = "incomplete"  # in synth.json while its videos are being written

_T = TypeVar("_T")


@dataclass(frozen=True)
class SynthSpec:
    """The parameters of a synthetic dataset (stored in ``synth.json`` beside the videos)."""

    classes: int = 8
    per_class: int = 20
    seed: int = 0
    size: tuple[int, int] = (64, 64)
    frames: tuple[int, int] = (16, 32)
    fps: tuple[float, float] = (20.0, 30.0)
    shortcut: float = 0.0
    speed: tuple[float, float] = (1.0, 1.0)
    reference_fps: float | None = None
    drop: float = 0.0
    duplicate: float = 0.0
    multi_label: bool = False

    def validate(self) -> None:
        """Raise :class:`DataError` naming the bad parameter."""
        if not 2 <= self.classes <= len(MOTIONS):
            raise DataError(f"--classes must be between 2 and {len(MOTIONS)}, got {self.classes}")
        if self.per_class < 1:
            raise DataError(f"--per-class must be >= 1, got {self.per_class}")
        if min(self.size) < 16 or any(s % 2 for s in self.size):
            raise DataError(f"--size must be even and >= 16 on both sides, got {self.size}")
        if not 2 <= self.frames[0] <= self.frames[1]:
            raise DataError(f"--frames must be MIN-MAX with 2 <= MIN <= MAX, got {self.frames}")
        if not 1 <= self.fps[0] <= self.fps[1]:
            raise DataError(f"--fps must be MIN-MAX with 1 <= MIN <= MAX, got {self.fps}")
        if not 0.0 <= self.shortcut <= 1.0:
            raise DataError(f"--shortcut must be in [0, 1], got {self.shortcut}")
        if not 0 < self.speed[0] <= self.speed[1]:
            raise DataError(f"--speed must be MIN-MAX with 0 < MIN <= MAX, got {self.speed}")
        if self.reference_fps is not None and not self.reference_fps > 0:
            raise DataError(f"--reference-fps must be > 0, got {self.reference_fps}")
        if not (0.0 <= self.drop < 1.0 and 0.0 <= self.duplicate < 1.0):
            raise DataError(
                f"--drop and --duplicate must be in [0, 1), got {self.drop}, {self.duplicate}"
            )
        if self.drop + self.duplicate >= 1.0:
            raise DataError("--drop plus --duplicate must be below 1")


def class_names(num_classes: int) -> list[str]:
    """The first ``num_classes`` motion classes (direction and time-order pairs first)."""
    return list(MOTIONS)[:num_classes]


def make_dataset(
    out: str | Path,
    classes: int = 8,
    per_class: int = 20,
    seed: int = 0,
    size: tuple[int, int] = (64, 64),
    frames: tuple[int, int] = (16, 32),
    fps: tuple[float, float] = (20.0, 30.0),
    shortcut: float = 0.0,
    workers: int = 1,
    speed: tuple[float, float] = (1.0, 1.0),
    reference_fps: float | None = None,
    drop: float = 0.0,
    duplicate: float = 0.0,
    multi_label: bool = False,
) -> Path:
    """Write ``out/<class>/<class>_NNNN.mp4`` (h264), ``out/labels.txt`` and ``out/synth.json``;
    with ``multi_label``, two moving objects per video, ``out/videos/<class>_NNNN.mp4`` and
    ``out/list.txt`` (path and ``;``-separated labels; see the module docstring).

    ``size`` is (height, width); ``frames`` and ``fps`` are (min, max) ranges drawn per video;
    ``shortcut`` is the probability that a video's background colour is its class colour.
    Time shifts, for test sets that differ from training in time: ``speed`` (min, max) scales
    how fast objects move; with ``reference_fps`` the motion is set in time, not in frames (a
    video at ``fps`` moves ``reference_fps / fps`` times as far per frame as one at the
    reference rate, as a real camera would record it); ``drop`` and ``duplicate`` are the
    probabilities that the camera skips a frame or repeats one. The same arguments always give
    byte-identical files. Returns ``out``.
    """
    spec = SynthSpec(
        classes,
        per_class,
        seed,
        _pair(size),
        _pair(frames),
        _pair(fps),
        shortcut,
        _pair(speed),
        reference_fps,
        drop,
        duplicate,
        multi_label,
    )
    spec.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = class_names(classes)
    jobs = [(out, spec, label, index) for label in range(classes) for index in range(per_class)]
    metadata = {**_settings(spec), "render_version": RENDER_VERSION}
    # the settings go first: a rerun of an interrupted set knows what its files are
    atomic_write_text(out / METADATA_FILE, json.dumps({**metadata, _INCOMPLETE: True}) + "\n")
    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=ignore_stop_signals) as pool:
            list(pool.map(_write_one, jobs, chunksize=4))
    else:
        for job in jobs:
            _write_one(job)
    atomic_write_text(out / "labels.txt", "".join(f"{name}\n" for name in names))
    if multi_label:
        atomic_write_text(out / MULTI_LABEL_LIST, _multi_label_list(spec))
    atomic_write_text(out / METADATA_FILE, json.dumps(metadata, indent=2) + "\n")
    return out


def is_complete(out: str | Path, **params: object) -> bool:
    """True when ``out`` already holds a dataset made with exactly these parameters."""
    out = Path(out)
    meta = out / METADATA_FILE
    if not meta.is_file():
        return False
    spec = _spec(params)
    try:
        stored = json.loads(meta.read_text())
    except (OSError, ValueError):
        return False
    if stored != json.loads(json.dumps({**_settings(spec), "render_version": RENDER_VERSION})):
        return False
    if spec.multi_label and not (out / MULTI_LABEL_LIST).is_file():
        return False
    return all(
        (out / _video_name(spec, label, index)).is_file()
        for label in range(spec.classes)
        for index in range(spec.per_class)
    )


def _settings(spec: SynthSpec) -> dict[str, Any]:
    """The spec as stored in ``synth.json`` (``multi_label`` only when set, so single-label
    datasets keep the settings they were made with)."""
    settings = asdict(spec)
    if not spec.multi_label:
        del settings["multi_label"]
    return settings


def _video_name(spec: SynthSpec, label: int, index: int) -> str:
    """The video's path inside the dataset folder."""
    name = class_names(spec.classes)[label]
    folder = "videos" if spec.multi_label else name
    return f"{folder}/{name}_{index:04d}.mp4"


def second_label(spec: SynthSpec, label: int, index: int) -> int:
    """The class of a multi-label video's second object (any class, the first's included)."""
    return int(np.random.default_rng([spec.seed, label, index, 3]).integers(spec.classes))


def _multi_label_list(spec: SynthSpec) -> str:
    """``list.txt`` of a multi-label dataset: ``videos/NAME.mp4 a;b`` per video."""
    names = class_names(spec.classes)
    lines = []
    for label in range(spec.classes):
        for index in range(spec.per_class):
            both = sorted({label, second_label(spec, label, index)})
            labels = ";".join(names[i] for i in both)
            lines.append(f"{_video_name(spec, label, index)} {labels}\n")
    return "".join(lines)


def check_synth_dir(
    out: str | Path,
    *,
    force: bool = False,
    other_settings: bool = False,
    option: str = "OUT",
    **params: object,
) -> bool:
    """The output guard for a synthetic dataset in ``out`` (see :mod:`motionfit.output_dir`);
    writes nothing. Returns True when ``out`` already holds the complete dataset of ``params``
    (nothing to write), False when :func:`make_dataset` may write there (after
    ``claim_output_dir(out, OUTPUT_KIND)``).

    Accepted: a new or empty folder, and a folder motionfit made (its marker, or the
    ``synth.json`` of a version before the marker). A folder of other files is an
    :class:`OutputError` unless ``force``; so is an earlier dataset made with other settings
    (its extra videos would stay) unless ``force`` or ``other_settings`` (a new render version
    alone is fine: the same files are written again). Bad ``params`` raise :class:`DataError`.
    """
    spec = _spec(params)
    spec.validate()
    out = Path(out)
    stored = _stored_settings(out)
    if stored is None or (out / MARKER_FILE).exists():  # else made before the marker: ours
        check_output_dir(out, OUTPUT_KIND, force=force, option=option)
    if is_complete(out, **params):
        return True
    if force or other_settings or stored is None:
        return False
    if stored != json.loads(json.dumps(_settings(spec))):
        raise OutputError(
            f"{option} {out} holds a synthetic dataset made with other settings "
            f"({METADATA_FILE}); choose a new folder, or pass --force to write there anyway"
        )
    return False


def _stored_settings(out: Path) -> dict[str, Any] | None:
    """The settings in ``out/synth.json`` (of a complete set, or of an interrupted one) without
    the render version, or None when there is no such file written by :func:`make_dataset`."""
    try:
        stored = json.loads((out / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or "render_version" not in stored:
        return None
    stored.pop("render_version")
    stored.pop(_INCOMPLETE, None)
    return stored


def _spec(params: dict[str, object]) -> SynthSpec:
    fields: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list | tuple) else v for k, v in params.items()
    }
    return SynthSpec(**fields)


def render_video(spec: SynthSpec, label: int, index: int) -> tuple[np.ndarray, float]:
    """Frames (uint8 ``[T, H, W, 3]``) and fps of one video, deterministic in its arguments."""
    rng = np.random.default_rng([spec.seed, label, index])
    height, width = spec.size
    num_frames = int(rng.integers(spec.frames[0], spec.frames[1] + 1))
    fps = float(np.round(rng.uniform(*spec.fps), 2))
    name = class_names(spec.classes)[label]
    motion = MOTIONS[name]
    times = _frame_times(spec, np.random.default_rng([spec.seed, label, index, 1]), num_frames)
    scale = _speed_scale(spec, np.random.default_rng([spec.seed, label, index, 2]), fps)
    scene = _random_scene(
        rng, spec, label, float(times[-1]) * scale, oriented=name.startswith("rotate_")
    )
    movers = [(scene, motion)]
    if spec.multi_label:
        other = class_names(spec.classes)[second_label(spec, label, index)]
        second = _random_scene(
            np.random.default_rng([spec.seed, label, index, 4]),
            spec,
            label,
            float(times[-1]) * scale,
            oriented=other.startswith("rotate_"),
        )
        movers.append((second, MOTIONS[other]))
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    video = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        progress = float(times[t] / times[-1])
        canvas = scene.background.copy()
        for distractor in scene.distractors:
            _paint(canvas, grid_x, grid_y, distractor.at(progress))
        for mover, move in movers:
            _paint(canvas, grid_x, grid_y, _moved(mover, move(progress)))
        video[t] = canvas
    return video, fps


def _moved(scene: _Scene, step: tuple[float, float, float, float]) -> _Pose:
    """The scene's target object after the motion step ``(dx, dy, turn, grow)``."""
    dx, dy, turn, grow = step
    obj = scene.target
    return _Pose(
        x=obj.x + dx * scene.travel_x,
        y=obj.y + dy * scene.travel_y,
        angle=obj.angle + turn * scene.turn,
        radius=obj.radius * (1.0 + grow * scene.growth),
        look=obj.look,
    )


# ---------------------------------------------------------------------------------------------
# scene description


@dataclass(frozen=True)
class _Look:
    shape: str
    texture: str
    color: np.ndarray
    color2: np.ndarray
    texture_freq: float


@dataclass(frozen=True)
class _Pose:
    x: float
    y: float
    angle: float
    radius: float
    look: _Look


@dataclass(frozen=True)
class _Distractor:
    start: _Pose
    drift: tuple[float, float]

    def at(self, progress: float) -> _Pose:
        s = self.start
        return _Pose(
            s.x + self.drift[0] * progress,
            s.y + self.drift[1] * progress,
            s.angle,
            s.radius,
            s.look,
        )


@dataclass(frozen=True)
class _Scene:
    background: np.ndarray
    target: _Pose
    distractors: list[_Distractor]
    travel_x: float
    travel_y: float
    turn: float
    growth: float


def _pair(values: Sequence[_T]) -> tuple[_T, _T]:
    """A (min, max) or (height, width) argument as a tuple, from a tuple or a list."""
    first, second = values
    return first, second


def _frame_times(spec: SynthSpec, rng: np.random.Generator, num_frames: int) -> np.ndarray:
    """Scene time (in frame steps) of each recorded frame: 0, 1, 2, ... unless the camera drops
    a frame (time jumps 2 steps) or repeats one (time stands still), with probabilities
    ``spec.drop`` and ``spec.duplicate``. The last frame is always later than the first."""
    steps = np.ones(num_frames - 1)
    if spec.drop > 0 or spec.duplicate > 0:
        draws = rng.random(num_frames - 1)
        steps[draws < spec.drop] = 2.0
        steps[(draws >= spec.drop) & (draws < spec.drop + spec.duplicate)] = 0.0
        if not steps.any():
            steps[-1] = 1.0
    return np.concatenate(([0.0], np.cumsum(steps)))


def _speed_scale(spec: SynthSpec, rng: np.random.Generator, fps: float) -> float:
    """How many default frame steps of motion one scene step of this video covers: the speed
    factor drawn from ``spec.speed``, times ``reference_fps / fps`` when motion is set in
    time. 1.0 (and no draw) with the defaults."""
    scale = float(rng.uniform(*spec.speed)) if spec.speed != (1.0, 1.0) else 1.0
    if spec.reference_fps is not None:
        scale *= spec.reference_fps / fps
    return scale


def _random_scene(
    rng: np.random.Generator, spec: SynthSpec, label: int, duration: float, oriented: bool
) -> _Scene:
    """A random scene whose motion lasts ``duration`` default frame steps (``num_frames - 1``
    unless a time shift changes it)."""
    height, width = spec.size
    short = min(height, width)
    background = _random_background(rng, spec, label)
    bg_mean = background.reshape(-1, 3).mean(axis=0)
    radius = float(rng.uniform(0.10, 0.17) * short)
    growth = float(rng.uniform(0.35, 0.5))
    shape = str(rng.choice(ORIENTED_SHAPES if oriented else SHAPES))
    look = _random_look(rng, shape, bg_mean)
    margin = radius * (1.0 + growth)
    # speed in pixels per frame (at 64 px), so short and long videos move equally fast; the
    # path is capped to what fits in the frame
    speed = float(rng.uniform(0.8, 1.6)) * short / 64
    travel_x = min(speed * duration, width - 2 * margin - 2)
    travel_y = min(speed * duration, height - 2 * margin - 2)
    # the middle of the path is uniform over the positions that keep the object in the frame
    mid_x = float(rng.uniform(margin + travel_x / 2, width - margin - travel_x / 2))
    mid_y = float(rng.uniform(margin + travel_y / 2, height - margin - travel_y / 2))
    target = _Pose(mid_x, mid_y, float(rng.uniform(0, 2 * math.pi)), radius, look)
    distractors = []
    for _ in range(int(rng.integers(0, 3))):
        d_radius = float(rng.uniform(0.05, 0.08) * short)
        d_look = _random_look(rng, str(rng.choice(SHAPES)), bg_mean)
        start = _Pose(
            float(rng.uniform(0, width)),
            float(rng.uniform(0, height)),
            float(rng.uniform(0, 2 * math.pi)),
            d_radius,
            d_look,
        )
        drift = (float(rng.uniform(-0.08, 0.08) * width), float(rng.uniform(-0.08, 0.08) * height))
        distractors.append(_Distractor(start, drift))
    return _Scene(
        background=background,
        target=target,
        distractors=distractors,
        travel_x=travel_x,
        travel_y=travel_y,
        turn=float(np.radians(rng.uniform(5.0, 10.0)) * (duration + 1)),
        growth=growth,
    )


def _class_color(label: int, num_classes: int) -> np.ndarray:
    hue = label / num_classes
    return _hsv_to_rgb(hue, 0.75, 0.55)


def _random_background(rng: np.random.Generator, spec: SynthSpec, label: int) -> np.ndarray:
    height, width = spec.size
    if rng.random() < spec.shortcut:
        base = _class_color(label, spec.classes)
    else:
        base = _hsv_to_rgb(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.25, 0.7))
    kind = rng.integers(0, 3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    field: np.ndarray
    if kind == 0:  # flat with grain
        field = rng.normal(0, 6, size=(height, width, 1))
    elif kind == 1:  # gradient
        angle = rng.uniform(0, 2 * math.pi)
        ramp = (np.cos(angle) * xx / width + np.sin(angle) * yy / height)[..., None]
        field = ramp * rng.uniform(20, 50) + rng.normal(0, 4, size=(height, width, 1))
    else:  # blotchy low-frequency noise
        coarse = rng.normal(0, 18, size=(height // 8 + 2, width // 8 + 2, 1))
        field = np.kron(coarse, np.ones((8, 8, 1)))[:height, :width]
    image = base[None, None, :] * 255 + field
    return np.clip(image, 0, 255).astype(np.uint8)


def _random_look(rng: np.random.Generator, shape: str, bg_mean: np.ndarray) -> _Look:
    for _ in range(20):  # a colour that stands out from the background
        color = _hsv_to_rgb(rng.random(), rng.uniform(0.4, 1.0), rng.uniform(0.5, 1.0)) * 255
        if np.abs(color - bg_mean).sum() > 150:
            break
    color2 = np.clip(color * rng.uniform(0.3, 0.6), 0, 255)
    texture = str(rng.choice(TEXTURES))
    return _Look(shape, texture, color, color2, float(rng.uniform(1.5, 3.5)))


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array(
        [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i], dtype=np.float32
    )


# ---------------------------------------------------------------------------------------------
# rasterization (implicit shapes in object coordinates, so textures move with the object)


def _paint(canvas: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray, pose: _Pose) -> None:
    reach = pose.radius * 1.5 + 1
    height, width = canvas.shape[:2]
    x0, x1 = max(0, int(pose.x - reach)), min(width, int(pose.x + reach) + 1)
    y0, y1 = max(0, int(pose.y - reach)), min(height, int(pose.y + reach) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    gx, gy = grid_x[y0:y1, x0:x1] - pose.x, grid_y[y0:y1, x0:x1] - pose.y
    cos, sin = math.cos(pose.angle), math.sin(pose.angle)
    u = (cos * gx + sin * gy) / pose.radius
    v = (-sin * gx + cos * gy) / pose.radius
    mask = _shape_mask(pose.look.shape, u, v)
    if not mask.any():
        return
    pattern = _texture(pose.look, u, v)
    color = np.where(pattern[..., None], pose.look.color, pose.look.color2)
    region = canvas[y0:y1, x0:x1]
    region[mask] = color[mask].astype(np.uint8)


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(abs(u), abs(v)) <= 0.85
    if shape == "triangle":  # points along +u
        return (u >= -0.6) & (abs(v) <= (1.0 - u) * 0.7) & (u <= 1.0)
    if shape == "cross":  # one long arm marks the orientation
        return ((abs(u) <= 0.25) & (v >= -0.7) & (v <= 1.2)) | ((abs(v) <= 0.25) & (abs(u) <= 0.7))
    if shape == "bar":
        return (abs(u) <= 1.1) & (abs(v) <= 0.35)
    if shape == "ell":
        return ((u >= -0.8) & (u <= -0.3) & (abs(v) <= 0.9)) | (
            (u >= -0.8) & (u <= 0.8) & (v >= 0.4) & (v <= 0.9)
        )
    raise ValueError(f"unknown shape {shape}")


def _texture(look: _Look, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    k = look.texture_freq * math.pi
    if look.texture == "solid":
        return np.ones_like(u, dtype=bool)
    if look.texture == "stripes":
        return np.sin(k * u) > 0
    if look.texture == "checker":
        return (np.sin(k * u) > 0) ^ (np.sin(k * v) > 0)
    return (np.sin(k * u) * np.sin(k * v)) < 0.5  # dots


def _write_one(job: tuple[Path, SynthSpec, int, int]) -> Path:
    out, spec, label, index = job
    frames, fps = render_video(spec, label, index)
    return write_video(out / _video_name(spec, label, index), frames, fps=fps, codec="h264")
