"""motionfit report: a self-contained HTML page comparing runs, its numbers and plots, and a
headless-Chromium render (skipped when no browser is installed)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from run_fixtures import assert_informative_png, make_run, make_videos, run_cli

from motionfit.config import load_config
from motionfit.report import build_report, config_rows, summarize_run
from motionfit.run import metric_columns, read_metrics

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "render_report.py"


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_videos(tmp_path_factory.mktemp("videos"), classes=3, per_class=2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, videos: Path) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    return [
        make_run(root / "baseline", videos, seed=0),
        make_run(root / "more_mixup", videos, seed=1,
                 extra=["augment.mix.mixup_alpha=0.2", "optim.lr=0.01"]),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, runs: list[Path], videos: Path) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    return build_report(runs, out, test=str(videos), clips=1)


def test_summary_reads_the_best_epoch_and_the_gap(runs: list[Path]) -> None:
    history = metric_columns(read_metrics(runs[1] / "metrics.csv"))
    best = max(range(len(history["epoch"])), key=lambda i: history["val_top1"][i])
    summary = summarize_run(runs[1])
    assert summary.best_epoch == history["epoch"][best]
    assert summary.val_top1 == history["val_top1"][best]
    assert summary.gap == pytest.approx(history["clean_train_acc"][best] - summary.val_top1)
    assert summary.clean_train - summary.val_top1 > 0.1  # the fixture's widening gap


def test_config_rows_put_differences_first() -> None:
    base = load_config("demo")
    other = load_config("demo", ["optim.lr=0.01", "augment.hflip=0.0"])
    rows = config_rows([base, other])
    differing = [key for key, _, differs in rows if differs]
    assert differing == ["augment.hflip", "optim.lr"]
    assert [key for key, _, _ in rows[:2]] == differing
    assert ("model.name", ["motioncnn_tiny", "motioncnn_tiny"], False) in rows


def test_report_is_one_self_contained_page(report: Path, runs: list[Path]) -> None:
    html = report.read_text()
    for name in ("baseline", "more_mixup"):
        assert html.count(f">{name}<") >= 3  # summary row, settings header, section title
    # no external resources: every image is inline, no scripts or stylesheets are fetched
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)
    assert "<script" not in html and "<link" not in html
    # the differing settings are highlighted
    for key in ("augment.mix.mixup_alpha", "optim.lr"):
        assert re.search(rf'<tr class="diff"><td class="l">{re.escape(key)}</td>', html)
    # test accuracy of each run (evaluated by --test) is in the table
    for run in runs:
        test = summarize_run(run).test
        assert test is not None and test["num_videos"] == 6
        assert f"{test['top1']:.1%}" in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 5  # all-runs curves + per run: learning curves, confusion
    for data in images:
        assert_informative_png(base64.b64decode(data), min_width=300, min_height=250)


def test_run_without_test_results_says_how_to_get_them(tmp_path: Path, videos: Path) -> None:
    run = make_run(tmp_path / "fresh", videos)
    html = build_report([run], tmp_path / "r.html").read_text()
    assert "No test results" in html and f"motionfit evaluate {run}" in html
    assert html.count("data:image/png;base64,") == 2  # all-runs curves + its learning curves


def test_cli_report(runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cmp.html"
    assert run_cli(["report", *map(str, runs), "--out", str(out)]) == 0
    assert out.is_file() and str(out) in capsys.readouterr().out


def test_cli_report_missing_run_is_one_line_exit_2(
    runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = run_cli(["report", str(runs[0]), str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "run directory or checkpoint not found" in err


@pytest.mark.skipif(
    not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
    reason="no Chromium browser installed (CI); scripts/render_report.py is the manual check",
)
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(report), "--out", str(png), "--height", "1600"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_informative_png(png, min_width=1280, min_height=1600)
