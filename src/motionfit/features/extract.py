"""``motionfit features``: run a frozen backbone once over a data set and cache its tokens.

The train/validation split, the clips and their augmentation are exactly those ``motionfit
train`` would use with the same config: training view ``k`` of a video is the clip training
epoch ``k`` draws for it, and a validation video's views are the clips x crops validation
scores (``eval.validation_views()``, as ``evaluate`` does). So a probe trained on the cache sees
what a probe trained on the fly with ``model.freeze=backbone`` sees, less the batch
augmentations of pixels (MixUp/CutMix, the debiasing ones), which the probe turns off.

A video that cannot be read is left out (``data.bad_files: skip``, the default), never
replaced by another video's clips: its rows are marked left out in the cache and it is listed
in ``OUT/bad_files.tsv``, as training lists it. The output folder goes through the guard of
:mod:`motionfit.output_dir` (kind ``features``: new, empty, or an earlier feature folder; never
inside the data or the run it reads). SIGTERM or SIGINT stops the extraction after the current
video (exit 143 or 130); the same command then finishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save

from motionfit.atomic import atomic_write_bytes
from motionfit.config import Config, dump_config, load_config
from motionfit.data.dataset import VideoClipDataset
from motionfit.data.records import VideoRecord
from motionfit.data.transforms import VideoNormalize
from motionfit.devices import ModelSource, Shard, inference_devices, make_shards, run_shards
from motionfit.errors import ConfigError, DataError, ModelError
from motionfit.features.cache import CONFIG_FILE, META_FILE, CacheRow, FeatureCache
from motionfit.models.build import build_model_from_config
from motionfit.models.data_config import resolve_model_defaults
from motionfit.models.hf_common import TokenPoolingClassifier
from motionfit.models.registry import families_with, get_spec
from motionfit.models.weights import report_load
from motionfit.output_dir import (
    MARKER_FILE,
    check_output_dir,
    claim_output_dir,
    releases_output_locks,
)
from motionfit.resources import check_eval_memory
from motionfit.run import RunPaths, data_inputs
from motionfit.stopping import StopRequest
from motionfit.train.datamodule import VideoDataModule

DTYPES = ("float16", "float32")
OUTPUT_KIND = "features"  # the kind in the .motionfit marker of a feature folder


def features_config(
    run_or_model: str, data: str, val: str | None = None, overrides: list[str] | None = None
) -> tuple[Config, str | None]:
    """The config and backbone weights for a run directory or a registered model name.

    A run keeps its model, clip and augmentation settings and gives its trained weights; a model
    name starts from its recipe (or from the model's reference clip shape) and its
    ``model.pretrained`` weights."""
    sets = [f"data.source={data}", f"data.val={val}" if val else "data.val=null"]
    path = Path(run_or_model)
    if path.is_dir():
        run = RunPaths(path)
        if not (run.config.is_file() and run.model.is_file()):
            raise DataError(
                f"{path}: not a finished run directory (no config.yaml/model.safetensors)"
            )
        config = load_config(run.config, [*sets, *(overrides or [])])
        return resolve_model_defaults(config), str(run.model)
    spec = get_spec(run_or_model)
    recipe = load_config(spec.recipe) if spec.recipe else None
    own = [
        f"sampling.num_frames={spec.default_frames}", f"augment.crop_size={spec.default_size}",
        f"augment.mean={list(spec.mean)}", f"augment.std={list(spec.std)}",
        f"model.pretrained={spec.pretrained[0] if spec.pretrained else 'null'}",
    ]  # fmt: skip
    if recipe is not None and recipe.model.name == spec.name:
        own = []  # the model's own recipe already says all of it
    config = load_config(
        spec.recipe or "demo", [f"model.name={spec.name}", *own, *sets, *(overrides or [])]
    )
    return resolve_model_defaults(config), config.model.pretrained


@releases_output_locks
def extract_features(
    config: Config,
    weights: str | None,
    out: Path,
    *,
    train_views: int = 1,
    dtype: str = "float16",
    on_video: Callable[[int, int], None] | None = None,
    echo: bool = False,
    force: bool = False,
    inputs: list[str | None] | None = None,
    devices: int = 1,
) -> FeatureCache:
    """Cache the frozen backbone's tokens of every training view and validation view in
    ``out`` (see :mod:`motionfit.features.cache`); an existing cache of the same settings is
    completed, not redone. ``on_video(done, total)`` is called after each video; the weights'
    load report is saved in ``out`` (and printed with ``echo``). ``out`` must be new, empty or
    a feature folder (else ``force``), and never lie inside or hold the data or ``inputs``
    (e.g. the run directory the weights come from). ``devices`` > 1 spreads the videos over that
    many devices (GPUs, else CPU processes): the same cache, written by this process only."""
    if train_views < 1 or dtype not in DTYPES:
        raise ConfigError(f"--views must be >= 1 and --dtype one of {', '.join(DTYPES)}")
    if config.data.repeated_augmentation != 1:
        raise ConfigError("config key 'data.repeated_augmentation': features need 1")
    if config.data.multi_label:
        raise ConfigError("config key 'data.multi_label': feature caches hold one label per clip")
    check_eval_memory(config, batch=1)
    out = Path(out)
    checked = [*data_inputs(config), weights, *(inputs or [])]
    if not (out / META_FILE).is_file() or (out / MARKER_FILE).exists():  # else made before the
        check_output_dir(out, OUTPUT_KIND, force=force, inputs=checked)  # marker: ours
    datamodule = VideoDataModule.for_run(config, RunPaths(out))
    labels = datamodule.prepare_records()
    config = datamodule.config  # with the frame rate strides are counted at (stride_fps)
    model = _backbone(config, len(labels), weights)
    grid = _token_shape(model, config)
    val_clips, val_crops = config.eval.validation_views()
    val_views = val_clips * val_crops  # the views validation (and evaluate) score
    settings = {
        "model": config.model.name, "head": config.model.head, "weights": weights,
        "frames": config.sampling.num_frames, "size": config.augment.crop_size,
        "train_views": train_views, "val_views": val_views, "dtype": dtype,
        "tokens": grid[0], "dim": grid[1], "seed": config.train.seed,
        "sampling": config.sampling.model_dump(mode="json"),
        "augment": config.augment.model_dump(mode="json"),
        "split": [[str(r.path) for r in datamodule.train_records],
                  [str(r.path) for r in datamodule.val_records]],
    }  # fmt: skip
    claim_output_dir(out, OUTPUT_KIND)
    cache = _open_or_create(out, settings, datamodule, train_views, val_views)
    dump_config(config, out / CONFIG_FILE)
    labels.save(cache.labels_path)
    if model.load_report is not None:
        report_load(model.load_report, out, echo=echo)
    top = model.num_layers + 1
    backbone = {k: v.contiguous() for k, v in model.state_dict().items() if model.layer_id(k) < top}
    atomic_write_bytes(cache.backbone_path, save(backbone))
    rebuild = partial(_backbone, config, len(labels), weights)
    _fill(cache, model, datamodule, config, on_video, devices, rebuild)
    return cache


def _backbone(config: Config, num_classes: int, weights: str | None) -> TokenPoolingClassifier:
    """The model as ``motionfit train`` builds it (same seed, so the same initial weights)."""
    if not get_spec(config.model.name).capabilities.frozen_features:
        frozen = families_with("frozen_features")
        raise ModelError(
            f"{config.model.name}: cached features need a model of the {frozen} families"
        )
    torch.manual_seed(config.train.seed)
    model = build_model_from_config(config, num_classes, pretrained=weights)
    assert isinstance(model, TokenPoolingClassifier)  # what the frozen-feature families build
    return model.eval()


def _token_shape(model: TokenPoolingClassifier, config: Config) -> tuple[int, int]:
    """``(tokens, dim)`` of one clip (one forward pass on a blank clip)."""
    frames, size = config.sampling.num_frames, config.augment.crop_size
    with torch.no_grad():
        shape = model.forward_tokens(torch.zeros(1, 3, frames, size, size)).shape
    return int(shape[1]), int(shape[2])


def _open_or_create(
    out: Path, settings: dict, datamodule: VideoDataModule, train_views: int, val_views: int
) -> FeatureCache:
    if (out / META_FILE).is_file():
        cache = FeatureCache(out)
        if cache.meta != settings:
            raise DataError(
                f"{out}: holds features made with other settings; pass another --out "
                "(or delete it to start over)"
            )
        return cache
    rows: list[CacheRow] = []
    for split, records, views in (
        ("train", datamodule.train_records, train_views),
        ("val", datamodule.val_records, val_views),
    ):
        for video, record in enumerate(records):
            for view in range(views):
                rows.append(CacheRow(len(rows), split, video, view, record.label, str(record.path)))
    return FeatureCache.create(out, settings, rows)


@dataclass(frozen=True)
class _Video:
    """One video with views still to cache: its position ``video`` in the ``split``'s records,
    its number of views and the ``todo`` view numbers."""

    split: str
    video: int
    count: int
    todo: tuple[int, ...]


def _fill(
    cache: FeatureCache,
    model: TokenPoolingClassifier,
    datamodule: VideoDataModule,
    config: Config,
    on_video: Callable[[int, int], None] | None,
    devices: int,
    rebuild: Callable[[], TokenPoolingClassifier],
) -> None:
    """Cache the pending views, spread over ``devices`` (each process builds the backbone
    with ``rebuild``); only this process writes the cache, a video at a time."""
    pending = set(cache.pending())
    videos = [(s, rows) for s in ("train", "val") for rows in cache.split_rows(s, left_out=True)]
    work = [rows for _, rows in videos if any(r in pending for r in rows)]
    units = [
        _Video(
            cache.rows[rows[0]].split,
            cache.rows[rows[0]].video,
            len(rows),
            tuple(cache.rows[r].view for r in rows if r in pending),
        )
        for rows in work
    ]
    shards = make_shards(inference_devices(devices), len(units))
    source: ModelSource = model if len(shards) == 1 else rebuild
    datasets = partial(
        _datasets,
        datamodule.train_records,
        datamodule.val_records,
        datamodule.flip_map,
        datamodule.dataset_options(),
        config,
    )
    task = partial(_extract_shard, source, datasets, config, cache.meta["dtype"], units)
    done = len(videos) - len(units)  # complete before this call
    stop = StopRequest()

    def receive(result: tuple[int, np.ndarray | str, list[int]]) -> None:
        nonlocal done
        number, tokens, labels = result
        rows = work[number]
        if isinstance(tokens, str):
            cache.leave_out(rows, tokens)
        else:
            cache.write([r for r in rows if r in pending], tokens, labels)
        done += 1
        if on_video is not None:
            on_video(done, len(videos))
        stop.raise_if_pending(
            f"after {done} of {len(videos)} videos; run the same command again to "
            f"finish {cache.root}"
        )

    with stop.installed():
        if on_video is not None:
            for number in range(1, done + 1):
                on_video(number, len(videos))
        run_shards(task, shards, receive)


def _datasets(
    train: list[VideoRecord],
    val: list[VideoRecord],
    flip_map: dict[int, int],
    common: dict[str, Any],
    config: Config,
) -> dict[str, VideoClipDataset]:
    """The train and val datasets of the cache's views (an unreadable video is left out,
    never another video's clips in its place). Each process makes its own: a dataset's epoch
    lives in shared memory, which a copy would share."""
    val_clips, val_crops = config.eval.validation_views()
    return {
        "train": VideoClipDataset(
            train, mode="train", flip_map=flip_map, leave_out_bad=True, **common
        ),
        "val": VideoClipDataset(
            val,
            mode="eval",
            num_clips=val_clips,
            crops=val_crops,
            eval_mode=config.eval.mode,
            leave_out_bad=True,
            **common,
        ),
    }


@torch.no_grad()
def _extract_shard(
    source: ModelSource,
    make_datasets: Callable[[], dict[str, VideoClipDataset]],
    config: Config,
    dtype: str,
    units: list[_Video],
    shard: Shard,
    send: Callable[[tuple[int, np.ndarray | str, list[int]]], None],
) -> None:
    """The tokens of the ``todo`` views of each video of ``shard`` (indices into ``units``),
    sent as ``(index, tokens in dtype, labels)``, or ``(index, reason, [])`` for a video that
    cannot be read."""
    model = source if isinstance(source, torch.nn.Module) else source()
    assert isinstance(model, TokenPoolingClassifier)  # what _backbone builds
    model.eval().to(shard.device)
    normalize = VideoNormalize.from_config(config.augment).to(shard.device)
    datasets = make_datasets()
    for number in shard.indices:
        unit = units[number]
        clips, labels = _views(datasets[unit.split], unit.video, unit.split, unit.count)
        if isinstance(clips, str):
            send((number, clips, []))
            continue
        batch = normalize(clips[list(unit.todo)].to(shard.device))
        chunks = batch.split(config.eval.batch_size)
        tokens = torch.cat([model.forward_tokens(chunk) for chunk in chunks])
        send((number, tokens.float().cpu().numpy().astype(dtype), [labels[v] for v in unit.todo]))


def _views(
    dataset: VideoClipDataset, video: int, split: str, count: int
) -> tuple[torch.Tensor | str, list[int]]:
    """uint8 ``[count, C, T, S, S]`` and each view's label: training views are the clips of
    epochs 0..count-1 (a flipped view of a direction class has its mirror label); for a video
    that cannot be read, why (a string) and no labels."""
    if split == "val":
        item = dataset[video]
        if "error" in item:
            return str(item["error"]), []
        return item["video"], [int(item["label"])] * count
    items = []
    for epoch in range(count):
        dataset.set_epoch(epoch)
        item = dataset[video]
        if "error" in item:
            return str(item["error"]), []
        items.append(item)
    return torch.stack([i["video"] for i in items]), [int(i["label"]) for i in items]
