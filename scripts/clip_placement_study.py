"""Where along a video do a run's evaluation clips score, and how should several be combined?

Scores every labeled video at 25 evenly spaced clip positions (relative position 0 = the clip
starts at the first frame, 1 = it ends at the last) with the run's own eval preprocessing,
then prints:

- top-1 of a single clip at each position (is the lead-in / tail of the videos uninformative?);
- top-1 of 1, 2 and 4 clips placed at the ends of the video and evenly between (``edges``,
  PyTorchVideo's ``UniformClipSampler``) against the centres of equal segments (``centres``,
  mmaction2's test-mode ``SampleFrames``, motionfit's), each averaged as softmax probabilities
  and as logits.

Usage: python scripts/clip_placement_study.py RUN_DIR LABELED_DATA [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from motionfit.data.decode import probe, read_clip, timeline_frames
from motionfit.data.records import read_records
from motionfit.data.sampling import centre_positions, clips_at, frame_strides
from motionfit.data.transforms import EvalTransform, VideoNormalize, decode_short_side
from motionfit.evaluation.evaluate import align_labels
from motionfit.run import load_run

GRID = 25  # positions k / 24: the edges and centres of 1, 2 and 4 clips all lie on it


def grid_logits(run_dir: Path, data: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``[N, GRID, K]`` of every video at every grid position, and the labels ``[N]``."""
    run = load_run(run_dir)
    cfg = run.config
    records, labels = read_records(data, cfg.data.format, cfg.data.video_root)
    records = align_labels(records, labels, run.labels, data)
    transform = EvalTransform(cfg.augment)
    normalize = VideoNormalize.from_config(cfg.augment)
    positions = [k / (GRID - 1) for k in range(GRID)]
    model = run.model.eval()
    out = []
    for record in records:
        meta = probe(record.path, cfg.sampling.frames_fps)
        stride, _ = frame_strides(
            meta.fps,
            cfg.sampling.stride,
            [cfg.sampling.stride],
            cfg.sampling.resolved_stride_seconds(),
        )
        clips = clips_at(
            meta.num_frames,
            positions,
            num_frames=cfg.sampling.num_frames,
            stride=stride,
            short_video=cfg.sampling.short_video,
        )
        short_side = decode_short_side(meta.width, meta.height, cfg.augment.resolved_short_side())
        views = []
        for clip in clips:
            frames = read_clip(
                record.path, timeline_frames(record.path, clip.indices), short_side=short_side
            )
            views.append(transform(frames))
        batch = normalize(torch.cat(views))
        with torch.inference_mode():
            out.append(model(batch).float())
    return torch.stack(out), torch.tensor([r.label for r in records])


def placements() -> dict[str, dict[int, list[int]]]:
    """Grid indices of 1, 2 and 4 clips under each placement."""
    last = GRID - 1
    edges = {n: [round(last * k / max(1, n - 1)) for k in range(n)] for n in (2, 4)}
    edges[1] = [last // 2]
    centres = {n: [round(last * p) for p in centre_positions(n)] for n in (1, 2, 4)}
    return {"edges": dict(sorted(edges.items())), "centres": centres}


def study(logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """Per-position top-1 and the placement x averaging table."""
    correct = logits.argmax(-1) == labels[:, None]
    per_position = correct.float().mean(0).tolist()
    table = {}
    for name, chosen in placements().items():
        for n, index in chosen.items():
            picked = logits[:, index]
            probs = picked.softmax(-1).mean(1).argmax(-1)
            mean_logits = picked.mean(1).argmax(-1)
            table[f"{name} x{n}"] = {
                "positions": [round(i / (GRID - 1), 3) for i in index],
                "probabilities": float((probs == labels).float().mean()),
                "logits": float((mean_logits == labels).float().mean()),
            }
    return {"videos": len(labels), "per_position": per_position, "placements": table}


def main() -> None:
    """Parse the arguments, run the study, print (and optionally save) the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("data")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = study(*grid_logits(args.run, args.data))
    print(f"{result['videos']} videos; single-clip top-1 by position (0 = start, 1 = end):")
    for k, value in enumerate(result["per_position"]):
        print(f"  {k / (GRID - 1):5.3f}  {value:6.1%}")
    print("placement   positions                    avg probs  avg logits")
    for name, row in result["placements"].items():
        where = ", ".join(f"{p:.2f}" for p in row["positions"])
        print(f"{name:<11} {where:<28} {row['probabilities']:9.1%} {row['logits']:10.1%}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
