"""A folder of cached backbone token features: one memory-mapped ``.npy`` array and its index.

Layout of a feature folder::

    meta.json             what was extracted (model, clip shape, views, token grid, settings)
    config.yaml           the config the features were made with (probes start from it)
    labels.txt            class names
    index.csv             one row per cached view: row, split, video, view, label, path
    tokens.npy            float ``[rows, tokens, dim]`` (``numpy.lib.format.open_memmap``)
    labels.npy            int ``[rows]``: each view's label (a flipped view of a direction
                          class takes its mirror class, as in training)
    done.npy              bool ``[rows]``: rows written so far (an interrupted run resumes)
    left_out.tsv          videos left out because they cannot be read (split, video, path,
                          reason); their rows are done but never used
    bad_files.tsv         the same videos as training lists them (path, reason)
    backbone.safetensors  the frozen backbone's weights (the probe's run directory needs them)

Rows are grouped by split and video: a training video has ``train_views`` augmented views
(view ``k`` is the clip its training epoch ``k`` would draw), a validation video ``val_views``
evaluation views.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motionfit.atomic import atomic_write_text
from motionfit.errors import DataError

META_FILE = "meta.json"
CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.txt"
INDEX_FILE = "index.csv"
TOKENS_FILE = "tokens.npy"
DONE_FILE = "done.npy"
VIEW_LABELS_FILE = "labels.npy"
BACKBONE_FILE = "backbone.safetensors"
LEFT_OUT_FILE = "left_out.tsv"


@dataclass(frozen=True)
class CacheRow:
    """One cached view: ``split`` is ``train`` or ``val``; ``video`` is the video's position
    in that split's record list; ``view`` the view number within the video."""

    row: int
    split: str
    video: int
    view: int
    label: int
    path: str


class FeatureCache:
    """An open feature folder (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        meta_path = self.root / META_FILE
        if not meta_path.is_file():
            raise DataError(
                f"{self.root}: not a feature folder (no {META_FILE}); make one with "
                "'motionfit features'"
            )
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        self.rows = read_index(self.root / INDEX_FILE)
        self.tokens = _open_array(self.root / TOKENS_FILE, np.dtype(self.meta["dtype"]))
        self.done = _open_array(self.root / DONE_FILE, np.dtype(np.bool_))
        self.labels = _open_array(self.root / VIEW_LABELS_FILE, np.dtype(np.int64))
        for name, array in ((TOKENS_FILE, self.tokens), (DONE_FILE, self.done)):
            if len(array) != len(self.rows):
                raise DataError(
                    f"{self.root / name}: {len(array)} rows, but {INDEX_FILE} lists "
                    f"{len(self.rows)}; make the features again"
                )
        self.left_out = read_left_out(self.root / LEFT_OUT_FILE)
        """(split, video) -> the path and reason of each video left out as unreadable."""

    @classmethod
    def create(cls, root: Path, meta: dict[str, Any], rows: list[CacheRow]) -> FeatureCache:
        """Allocate the arrays for ``rows`` and write the index and ``meta.json`` (last: a folder
        without it is not a cache yet)."""
        root.mkdir(parents=True, exist_ok=True)
        write_index(root / INDEX_FILE, rows)
        shape = (len(rows), int(meta["tokens"]), int(meta["dim"]))
        np.lib.format.open_memmap(root / TOKENS_FILE, "w+", np.dtype(meta["dtype"]), shape).flush()
        np.lib.format.open_memmap(root / DONE_FILE, "w+", np.bool_, (len(rows),)).flush()
        np.lib.format.open_memmap(root / VIEW_LABELS_FILE, "w+", np.int64, (len(rows),)).flush()
        atomic_write_text(root / META_FILE, json.dumps(meta, indent=1, sort_keys=True))
        return cls(root)

    @property
    def config_path(self) -> Path:
        """The config the features were made with."""
        return self.root / CONFIG_FILE

    @property
    def labels_path(self) -> Path:
        """The class names."""
        return self.root / LABELS_FILE

    @property
    def backbone_path(self) -> Path:
        """The backbone weights the features came from."""
        return self.root / BACKBONE_FILE

    def pending(self) -> list[int]:
        """Rows not written yet (rows of videos left out count as written)."""
        return np.flatnonzero(~np.asarray(self.done)).tolist()

    def leave_out(self, rows: list[int], reason: str) -> None:
        """Mark the rows of one unreadable video as left out (done, never used); the video is
        listed in ``left_out.tsv``."""
        first = self.rows[rows[0]]
        self.left_out[(first.split, first.video)] = (first.path, reason)
        lines = [
            f"{split}\t{video}\t{path}\t{why}\n"
            for (split, video), (path, why) in sorted(self.left_out.items())
        ]
        atomic_write_text(
            self.root / LEFT_OUT_FILE, "split\tvideo\tpath\treason\n" + "".join(lines)
        )
        self.done[rows] = True
        self.done.flush()

    def write(self, rows: list[int], tokens: np.ndarray, labels: list[int]) -> None:
        """Store ``tokens`` ``[len(rows), N, D]`` and the views' labels, and mark the rows done
        (flushed to disk)."""
        self.tokens[rows] = tokens.astype(self.tokens.dtype, copy=False)
        self.tokens.flush()
        self.labels[rows] = labels
        self.labels.flush()
        self.done[rows] = True
        self.done.flush()

    def split_rows(self, split: str, *, left_out: bool = False) -> list[list[int]]:
        """Per video of ``split``, its rows in view order; videos left out as unreadable are
        skipped unless ``left_out``."""
        videos: dict[int, list[int]] = {}
        for row in self.rows:
            if row.split == split and (left_out or (split, row.video) not in self.left_out):
                videos.setdefault(row.video, []).append(row.row)
        return [videos[v] for v in sorted(videos)]

    def check_complete(self) -> None:
        """A :class:`DataError` unless every row was written."""
        missing = len(self.pending())
        if missing:
            raise DataError(
                f"{self.root}: {missing} of {len(self.rows)} feature rows are missing (was "
                "'motionfit features' interrupted? run it again to finish)"
            )


def read_left_out(path: Path) -> dict[tuple[str, int], tuple[str, str]]:
    """``left_out.tsv``: (split, video) -> (path, reason); empty when there is none."""
    if not path.is_file():
        return {}
    left: dict[tuple[str, int], tuple[str, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        split, video, where, why = [*line.split("\t", 3), "", "", ""][:4]
        left[(split, int(video))] = (where, why)
    return left


def _open_array(path: Path, dtype: np.dtype) -> np.memmap:
    """A cache array, memory-mapped for reading and writing; :class:`DataError` naming the file
    unless it is a plain ``.npy`` array of ``dtype`` (an object array would need pickle)."""
    try:
        array = np.load(path, mmap_mode="r+", allow_pickle=False)
    except FileNotFoundError:
        raise DataError(
            f"{path}: missing from the feature folder; make the features again"
        ) from None
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise DataError(f"{path}: not a feature array ({reason}); make the features again") from exc
    if not isinstance(array, np.memmap) or array.dtype != dtype:
        raise DataError(
            f"{path}: holds {getattr(array, 'dtype', type(array).__name__)} values, not "
            f"{dtype}; make the features again"
        )
    return array


def write_index(path: Path, rows: list[CacheRow]) -> None:
    """Write ``index.csv``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CacheRow.__dataclass_fields__))
    writer.writeheader()
    writer.writerows(asdict(row) for row in rows)
    atomic_write_text(path, buffer.getvalue())


def read_index(path: Path) -> list[CacheRow]:
    """Read ``index.csv``."""
    with path.open(newline="") as handle:
        return [
            CacheRow(
                row=int(r["row"]),
                split=r["split"],
                video=int(r["video"]),
                view=int(r["view"]),
                label=int(r["label"]),
                path=r["path"],
            )
            for r in csv.DictReader(handle)
        ]
