"""What fp16 and int8 exports cost and buy: ONNX Runtime latency, file size and the change of
predictions against the float32 PyTorch model, per family at tiny and real sizes.

    python benchmarks/export.py [--models motioncnn_tiny,r2plus1d_18,videomae_tiny,videomae_b]
                                [--repeats 5] [--threads 2]

For each model: a run directory with random weights (no network here: no pretrained weights;
random logits sit close together, so top-1 flips more easily than on a trained model, which
makes the agreement figures conservative), the real clips of ``../shared/data/real-videos``
preprocessed by the run's own eval pipeline (one centre clip each), then ``motionfit export``
at fp32, fp16 and int8. Per precision: ONNX Runtime (CPU provider) milliseconds per clip
(batch 1, best of ``--repeats``), file size, top-1 agreement with PyTorch fp32 and the largest
change of any class probability and of any logit (relative to the spread of the fp32 logits,
the figure that does not shrink with near-uniform random-weight probabilities). Everything in
the same run, on the same clips.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from motionfit.config import dump_config, load_config
from motionfit.data.dataset import VideoClipDataset
from motionfit.data.records import LabelMap, VideoRecord
from motionfit.data.transforms import VideoNormalize
from motionfit.export import PRECISIONS, export_run
from motionfit.models import build_model_from_config, resolve_model_defaults
from motionfit.run import LoadedRun, RunPaths, load_run

REAL_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-videos"
CLASSES = tuple(f"class_{i}" for i in range(10))
SIZES = {  # model -> (frames, crop): tiny test sizes and the families' real clip
    "motioncnn_tiny": (8, 32),
    "motioncnn_s": (16, 112),
    "r2plus1d_18": (16, 112),
    "videomae_tiny": (8, 64),
    "timesformer_tiny": (8, 64),
    "vjepa2_tiny": (8, 64),
    "videomae_b": (16, 224),
}


def make_run(root: Path, model: str) -> LoadedRun:
    """A run of ``model`` at its size in :data:`SIZES`, random weights, ten classes."""
    frames, crop = SIZES[model]
    paths = RunPaths(root)
    root.mkdir(parents=True)
    overrides = [
        f"model.name={model}",
        f"augment.crop_size={crop}",
        f"sampling.num_frames={frames}",
    ]
    config = resolve_model_defaults(load_config("demo", [*overrides, "eval.clips=1"]))
    dump_config(config, paths.config)
    LabelMap(CLASSES).save(paths.labels)
    torch.manual_seed(0)
    net = build_model_from_config(config, len(CLASSES))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(paths.model))
    return load_run(root)


def held_out_clips(run: LoadedRun) -> np.ndarray:
    """The real clips through the run's eval pipeline: float32 ``[N, 3, T, S, S]``."""
    videos = sorted(p for p in REAL_VIDEOS.iterdir() if p.suffix in {".mp4", ".avi"})
    records = [VideoRecord(path, -1) for path in videos]
    config = run.config
    dataset = VideoClipDataset(
        records, mode="eval", sampling=config.sampling, augment=config.augment
    )
    normalize = VideoNormalize.from_config(config.augment)
    clips = torch.cat([dataset[i]["video"] for i in range(len(dataset))])
    return normalize(clips).numpy()


def onnx_logits(path: Path, clips: np.ndarray, threads: int) -> tuple[np.ndarray, object]:
    """Logits of every clip (batch 1) and the session."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    out = [session.run(["logits"], {"video": clip[None]})[0][0] for clip in clips]
    return np.stack(out), session


def latency_ms(session: object, clip: np.ndarray, repeats: int) -> float:
    """Best of ``repeats`` single-clip runs, in milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(["logits"], {"video": clip[None]})  # type: ignore[attr-defined]
        best = min(best, time.perf_counter() - start)
    return best * 1000


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="motioncnn_tiny,r2plus1d_18,videomae_tiny,videomae_b")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        "| model | clip | precision | ms / clip | MB | top-1 = fp32 PyTorch | max prob change "
        "| max logit change / logit range |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            run = make_run(Path(tmp) / model, model)
            clips = held_out_clips(run)
            with torch.inference_mode():
                reference_logits = run.model(torch.from_numpy(clips)).numpy()
            reference = softmax(reference_logits)
            spread = float(reference_logits.max() - reference_logits.min())
            frames, crop = SIZES[model]
            for precision in PRECISIONS:
                path = Path(tmp) / f"{model}_{precision}.onnx"
                export_run(run, path, "onnx", precision=precision, verify=False)  # type: ignore[arg-type]
                logits, session = onnx_logits(path, clips, args.threads)
                probs = softmax(logits)
                agree = float((probs.argmax(1) == reference.argmax(1)).mean())
                change = float(np.abs(probs - reference).max())
                logit_change = float(np.abs(logits - reference_logits).max()) / spread
                ms = latency_ms(session, clips[0], args.repeats)
                size = path.stat().st_size / 1e6
                print(
                    f"| {model} | {frames}x{crop} | {precision} | {ms:.1f} | {size:.1f} | "
                    f"{agree:.0%} ({len(clips)} clips) | {change:.1e} | {logit_change:.1e} |"
                )


if __name__ == "__main__":
    main()
