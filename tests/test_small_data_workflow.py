"""README "Little labeled data" works as printed: its command lines, run as they stand (only
the features line shrunk to a tiny V-JEPA 2 with --set), and the `next:` line `features`
prints, with the recipe's batch augmentations of pixels left on."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from run_fixtures import make_videos, run_cli

from motionfit.config import load_config
from motionfit.data.augment import registered

README = Path(__file__).resolve().parents[1] / "README.md"
# vjepa2_l's recipe as it is, at the size of the tiny V-JEPA 2 (random weights, no download)
SHRINK = [
    "model.name=vjepa2_tiny", "model.pretrained=null", "sampling.num_frames=8",
    "augment.crop_size=64", "data.num_workers=0",
]  # fmt: skip


def readme_commands() -> list[list[str]]:
    """The command lines of the README's "Little labeled data" code block, without comments."""
    section = README.read_text().split("## Little labeled data", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_readme_small_data_commands_run_as_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    features, probe, linear, evaluate = readme_commands()
    assert features[:2] == ["motionfit", "features"] and probe[:3] == [
        "motionfit",
        "train",
        "--features",
    ]
    make_videos(tmp_path / "videos", classes=3, per_class=4, frames=(24, 32))
    make_videos(tmp_path / "test", classes=3, per_class=2, seed=1, frames=(24, 32))
    monkeypatch.chdir(tmp_path)  # the README's relative paths: videos/, features/..., runs/...

    assert run_cli([*features[1:], *(arg for s in SHRINK for arg in ("--set", s))]) == 0
    printed = capsys.readouterr().out
    next_line = re.search(r"^next: (.*)$", printed, re.MULTILINE)
    assert next_line is not None, printed
    run_dir = probe[probe.index("--out") + 1]
    assert shlex.split(next_line.group(1).replace("RUN_DIR", run_dir)) == probe

    for command in (probe, linear):
        assert run_cli(command[1:]) == 0, capsys.readouterr().err
        note = capsys.readouterr().err
        decided = [name for name, a in registered().items() if a.model_decided()]  # debiasing
        assert f"turned off {', '.join(f'augment.{name}' for name in decided)}" in note
        run = Path(command[command.index("--out") + 1])
        assert (run / "model.safetensors").is_file()
        saved = load_config(run / "config.yaml")
        assert [saved.augment.settings(name).p for name in decided] == [0, 0]
        assert saved.model.name == "vjepa2_tiny" and saved.model.freeze == "backbone"
    assert load_config(Path(run_dir) / "config.yaml").model.head == "attentive"

    assert run_cli(evaluate[1:]) == 0
    metrics = json.loads((Path(run_dir) / "eval" / "metrics.json").read_text())
    assert metrics["num_videos"] == 6 and 0.0 <= metrics["top1"] <= 1.0
