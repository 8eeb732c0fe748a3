"""The export sidecar is the whole preprocessing contract: the reference implementation in
docs/deploy.md, which reads only the sidecar and the ONNX file, gives the probabilities
``motionfit predict`` gives (1e-4) on real clips of several sizes: 240p to 1080p, landscape and
portrait, decoded natively or downscaled while decoding, one or three crops."""

from __future__ import annotations

import re
from itertools import islice
from pathlib import Path

import av
import numpy as np
import pytest
from run_fixtures import make_run, make_videos

from motionfit.data.encode import write_video
from motionfit.export import export_run
from motionfit.predict import predict_videos
from motionfit.run import load_run

pytest.importorskip("onnxruntime", reason="the optional extra motionfit[export] is not installed")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"


def reference_implementation() -> dict:
    """The namespace of the python block of docs/deploy.md, as a user would paste it."""
    (code,) = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def clips(real_videos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The real clips, plus a portrait 1080x1920 clip made from the frames of a real 1080p one."""
    source = next(p for p in real_videos if "1920x1080" in p.name)
    with av.open(str(source)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in islice(container.decode(video=0), 24)]
    portrait = np.ascontiguousarray(np.stack(frames).transpose(0, 2, 1, 3))  # [T, 1920, 1080, 3]
    path = write_video(tmp_path_factory.mktemp("portrait") / "portrait_1080x1920.mp4", portrait, 30)
    return [*real_videos, path]


@pytest.mark.parametrize(
    "settings",
    [
        [],  # 32 px crops: every clip is downscaled while decoding
        ["augment.crop_size=160", "eval.crops=3", "eval.clips=3"],  # 240p-256p clips: native
    ],
    ids=["small-crop", "native-3crops"],
)
def test_the_sidecar_alone_reproduces_predict_on_real_clips(
    clips: list[Path], settings: list[str], tmp_path: Path
) -> None:
    videos = make_videos(tmp_path / "videos", classes=3, per_class=2)
    root = make_run(tmp_path / "run", videos, train_steps=6, extra=settings)
    run = load_run(root)
    model = export_run(run, tmp_path / "model.onnx", "onnx").model_path
    expected = predict_videos(run, clips, top_k=len(run.labels))
    assert not expected.failed
    probabilities = reference_implementation()["probabilities"]
    sizes = set()
    for prediction in expected.predictions:
        ours = {score.label: score.probability for score in prediction.top}
        theirs = probabilities(model, prediction.video)
        assert theirs.keys() == ours.keys()
        worst = max(abs(theirs[label] - ours[label]) for label in ours)
        assert worst < 1e-4, (prediction.video.name, worst)
        with av.open(str(prediction.video)) as container:
            stream = container.streams.video[0]
            sizes.add((stream.width, stream.height))
    assert {(320, 240), (340, 256), (1920, 1080), (1080, 1920)} <= sizes
