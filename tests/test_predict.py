"""motionfit predict: top-k on real clips, unreadable files, sliding-window timelines, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from run_fixtures import make_run, make_videos, run_cli

from motionfit.data.encode import write_video
from motionfit.data.records import VideoRecord
from motionfit.evaluation.inference import predict_views
from motionfit.predict import find_videos, predict_timeline, predict_videos, timeline_windows
from motionfit.run import load_run

LONG_CLIP = "h264_340x256_30fps.mp4"  # 300 frames at 30 fps = 10 s


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with 6 classes and random weights (predict needs a model, not a good one)."""
    videos = make_videos(tmp_path_factory.mktemp("videos"), classes=6, per_class=1)
    return make_run(tmp_path_factory.mktemp("run") / "run", videos)


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory: pytest.TempPathFactory, real_videos_dir: Path) -> Path:
    """Two readable videos (a real clip, a generated mpeg4 avi) and a broken file."""
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "real.mp4").symlink_to(real_videos_dir / "short_340x256_30fps_32frames.mp4")
    frames = np.random.default_rng(0).integers(0, 255, (20, 48, 64, 3), dtype=np.uint8)
    write_video(folder / "generated.avi", frames, fps=25, codec="mpeg4")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom truncated")
    return folder


def test_top_k_on_real_clips(run_dir: Path, real_videos: list[Path]) -> None:
    run = load_run(run_dir)
    names = {LONG_CLIP, "mpeg4_with_audio_320x240_25fps.avi", "ntu_h264_in_avi_1920x1080_30fps.avi"}
    clips = [p for p in real_videos if p.name in names]
    result = predict_videos(run, clips, top_k=5)
    assert not result.failed
    assert [p.video for p in result.predictions] == clips
    views = predict_views(
        run.model, run.config, [VideoRecord(c, -1) for c in clips], clips=2, crops=1,
        batch_size=8,
    )  # fmt: skip
    for i, prediction in enumerate(result.predictions):
        labels = [s.label for s in prediction.top]
        probabilities = [s.probability for s in prediction.top]
        assert len(labels) == 5 and len(set(labels)) == 5
        assert set(labels) <= set(run.labels.names)
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0.0 < p < 1.0 for p in probabilities)
        assert sum(probabilities) < 1.0  # 5 of 6 classes
        # the same numbers as the eval pipeline's averaged softmax
        expected = views.video_probs[i].sort(descending=True).values[:5]
        np.testing.assert_allclose(probabilities, expected.numpy(), rtol=1e-5)


def test_top_k_is_capped_at_the_number_of_classes(run_dir: Path, real_videos_dir: Path) -> None:
    run = load_run(run_dir)
    result = predict_videos(run, [real_videos_dir / LONG_CLIP], top_k=50, clips=1)
    top = result.predictions[0].top
    assert len(top) == 6
    assert sum(s.probability for s in top) == pytest.approx(1.0, abs=1e-5)


def test_unreadable_files_are_reported_and_the_rest_predicted(
    run_dir: Path, mixed_dir: Path
) -> None:
    videos = find_videos(mixed_dir)
    assert [v.name for v in videos] == ["broken.mp4", "generated.avi", "real.mp4"]
    result = predict_videos(load_run(run_dir), videos, top_k=3)
    assert [p.video.name for p in result.predictions] == ["generated.avi", "real.mp4"]
    assert [(v.name, "broken.mp4" in why) for v, why in result.failed] == [("broken.mp4", True)]


def test_timeline_windows() -> None:
    assert timeline_windows(10.0, 3.0, 2.0) == [(0, 3), (2, 5), (4, 7), (6, 9), (7.0, 10.0)]
    assert timeline_windows(10.0, 2.0, 1.0) == [(k, k + 2) for k in range(9)]
    assert timeline_windows(2.5, 4.0, 1.0) == [(0.0, 2.5)]
    with pytest.raises(ValueError):
        timeline_windows(10.0, 0.0, 1.0)


def test_timeline_scores_each_window_separately(run_dir: Path, real_videos_dir: Path) -> None:
    run = load_run(run_dir)
    result = predict_timeline(run, [real_videos_dir / LONG_CLIP], window=2.0, hop=1.0, top_k=2,
                              clips=1)  # fmt: skip
    assert [(p.start, p.end) for p in result.predictions] == [(k, k + 2) for k in range(9)]
    assert all(len(p.top) == 2 for p in result.predictions)
    # windows see different frames, so their scores differ
    firsts = {round(p.top[0].probability, 6) for p in result.predictions}
    assert len(firsts) > 1


def test_cli_predict_folder_skips_the_broken_file(
    run_dir: Path, mixed_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "predictions.json"
    code = run_cli(["predict", str(mixed_dir), "--run", str(run_dir), "--top-k", "2", "--json",
                    "--out", str(out)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    assert "skipped unreadable video" in captured.err and "broken.mp4" in captured.err
    printed = json.loads(captured.out)
    assert printed == json.loads(out.read_text())
    assert [Path(p["video"]).name for p in printed["predictions"]] == ["generated.avi", "real.mp4"]
    assert all(len(p["top_k"]) == 2 for p in printed["predictions"])
    assert [Path(u["video"]).name for u in printed["unreadable"]] == ["broken.mp4"]


def test_cli_predict_timeline_writes_csv(
    run_dir: Path, real_videos_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "timeline.csv"
    code = run_cli(["predict", str(real_videos_dir / LONG_CLIP), "--run", str(run_dir),
                    "--window", "4", "--hop", "3", "--top-k", "1", "--clips", "1",
                    "--out", str(out)])  # fmt: skip
    assert code == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    # windows 0-4, 3-7 and one aligned to the end, 6-10: one row each
    assert [(r["start"], r["end"]) for r in rows] == [
        ("0.000", "4.000"), ("3.000", "7.000"), ("6.000", "10.000")
    ]  # fmt: skip
    for row in rows:
        (top,) = json.loads(row["top_k"])
        assert (top["label"], top["probability"]) == (row["label"], float(row["probability"]))
    assert "top class" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "{missing}", "--run", "{run}"], "no such video, folder or list"),
        (["predict", "{clip}", "--run", "{missing}"], "run directory or checkpoint not found"),
        (["predict", "{clip}", "--run", "{run}", "--hop", "1"], "--hop needs --window"),
        (["predict", "{clip}", "--run", "{run}", "--out", "x.txt"], "must end in .csv, .json"),
        (["predict", "{clip}", "--run", "{run}", "--crops", "2"], "--crops must be 1 or 3"),
        (["predict", "{broken}", "--run", "{run}"], "none of the 1 videos could be read"),
    ],
)
def test_cli_predict_user_errors_exit_2_with_one_line(
    args: list[str],
    message: str,
    run_dir: Path,
    mixed_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    values = {
        "run": run_dir,
        "clip": mixed_dir / "real.mp4",
        "broken": mixed_dir / "broken.mp4",
        "missing": tmp_path / "nope",
    }
    code = run_cli([a.format(**values) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[-1].startswith("error: ") and message in err.splitlines()[-1]
    assert sum(line.startswith("error") for line in err.splitlines()) == 1


def test_timeline_follows_time_on_a_variable_frame_rate_video(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows are seconds of the video's own clock: each reads frames shown inside it."""
    from conftest import numbered_frames
    from test_decode import vfr_times, write_vfr_video

    from motionfit.data import dataset as dataset_module

    times = vfr_times(60)
    video = write_vfr_video(tmp_path / "vfr.mp4", numbered_frames(60), times)
    asked: list[list[int]] = []
    read = dataset_module.read_clip

    def spy(path, indices, **kwargs):
        asked.append(list(indices))
        return read(path, indices, **kwargs)

    monkeypatch.setattr(dataset_module, "read_clip", spy)
    result = predict_timeline(load_run(run_dir), [video], window=1.0, hop=0.5, clips=1)
    duration = times[-1] * 60 / 59
    windows = [(p.start, p.end) for p in result.predictions]
    assert windows[-1][1] == pytest.approx(duration, abs=1e-3) and len(asked) == len(windows)
    slack = 0.07  # the widest gap between two frames
    for (start, end), frames in zip(windows, asked, strict=True):
        shown = times[frames]
        assert start - slack <= shown.min() and shown.max() <= end + slack, (start, end, shown)


def test_cli_predict_takes_several_paths_and_lists_and_writes_a_row_per_video(
    run_dir: Path, mixed_dir: Path, real_videos_dir: Path, tmp_path: Path
) -> None:
    clips = sorted(real_videos_dir.glob("*.mp4"))[:2]
    listed = tmp_path / "lists" / "videos.txt"
    listed.parent.mkdir()
    listed.write_text(f"# two real clips and one gone\n{clips[0]}\n\n../gone.mp4\n{clips[1]}\n")
    table = tmp_path / "lists" / "videos.csv"
    table.write_text(f"label,path\nx,{clips[1]}\n")
    out = tmp_path / "predictions.jsonl"
    argv = ["predict", str(listed), str(mixed_dir), str(table), "--run", str(run_dir)]
    assert run_cli([*argv, "--top-k", "2", "--workers", "2", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    read = [Path(r["video"]).name for r in rows if "error" not in r]
    assert read == [clips[0].name, clips[1].name, "generated.avi", "real.mp4", clips[1].name]
    assert all(len(r["top_k"]) == 2 and r["label"] == r["top_k"][0]["label"] for r in rows[:5])
    unreadable = {Path(r["video"]).name: r["error"] for r in rows if "error" in r}
    assert set(unreadable) == {"gone.mp4", "broken.mp4"}
    csv_out = tmp_path / "predictions.csv"
    assert run_cli([*argv, "--out", str(csv_out)]) == 0
    with csv_out.open() as handle:
        table_rows = list(csv.DictReader(handle))
    assert len(table_rows) == len(rows)  # one row per video, unreadable ones with their error
    assert [r["error"] != "" for r in table_rows] == ["error" in r for r in rows]
