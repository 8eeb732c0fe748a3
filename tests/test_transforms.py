"""Spatial transforms, flip labels and the augmentation guard, on frames of real encoded video."""

from __future__ import annotations

import warnings
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from motionfit.config import AugmentConfig
from motionfit.data.encode import write_video
from motionfit.data.guard import AugmentationWarning, check_augmentations, enforce_guard
from motionfit.data.transforms import (
    EvalTransform,
    ModelInput,
    TrainTransform,
    direction_sensitive_classes,
    flip_label_map,
    warn_unmapped_direction_classes,
)
from motionfit.errors import ConfigError

SMALL = dict(crop_size=32, short_side=40)


def _decode(path: Path, num_frames: int, short_side: int) -> torch.Tensor:
    """The first frames of a video as uint8 [T, 3, H, W], short side resized (as the decoder)."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        scale = short_side / min(stream.height, stream.width)
        size = dict(width=round(stream.width * scale), height=round(stream.height * scale))
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24", **size))
            if len(frames) == num_frames:
                break
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)


@pytest.fixture(scope="module")
def clip(real_videos_dir: Path) -> torch.Tensor:
    """8 frames of a real Kinetics-style clip, short side 40 (landscape 53x40)."""
    return _decode(real_videos_dir / "kinetics_armwrestling_340x256_28fps.mp4", 8, 40)


@pytest.fixture(scope="module")
def full_size_clip(real_videos_dir: Path) -> torch.Tensor:
    """4 frames of a real 340x256 clip at full size."""
    return _decode(real_videos_dir / "h264_340x256_30fps.mp4", 4, 256)


def _all_on() -> AugmentConfig:
    return AugmentConfig(
        **SMALL,
        scale=(0.3, 1.0),
        color_jitter=1.0,
        grayscale=0.3,
        rotation=20,
        perspective=0.3,
        elastic=20.0,
        blur_sigma=2.0,
        random_erasing=0.7,
    )


def test_identical_frames_stay_identical_with_every_augmentation(clip):
    still = clip[3:4].expand(6, -1, -1, -1)  # one real frame repeated: a clip without motion
    transform = TrainTransform(_all_on())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torchvision warning either
        for seed in range(40):
            out, _ = transform(still, torch.Generator().manual_seed(seed))
            assert torch.equal(out, out[:, :1].expand_as(out)), f"seed {seed}"


def test_default_train_output_shape_dtype_and_determinism(clip):
    transform = TrainTransform(AugmentConfig(**SMALL))
    out, flipped = transform(clip, torch.Generator().manual_seed(7))
    assert out.shape == (3, 8, 32, 32) and out.dtype == torch.float32 and out.is_contiguous()
    torch.manual_seed(123)  # the global RNG must not matter, nor be consumed
    before = torch.get_rng_state()
    again, flipped_again = transform(clip, torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(out, again) and flipped == flipped_again
    outputs = [transform(clip, torch.Generator().manual_seed(s))[0] for s in range(20)]
    assert len({o.sum().item() for o in outputs}) == 20  # every sample gets its own crop


def test_flips_are_decided_by_the_generator_and_mirror_the_clip(clip):
    cfg = AugmentConfig(**SMALL, scale=(0.5, 1.0))
    plain = TrainTransform(cfg.model_copy(update={"hflip": 0.0}))
    mirror = TrainTransform(cfg.model_copy(update={"hflip": 1.0}))
    for seed in range(5):
        a, a_flipped = plain(clip, torch.Generator().manual_seed(seed))
        b, b_flipped = mirror(clip, torch.Generator().manual_seed(seed))
        assert not a_flipped and b_flipped
        assert torch.equal(b, a.flip(-1))  # same crop, mirrored
    half = TrainTransform(cfg)
    flips = [half(clip, torch.Generator().manual_seed(s))[1] for s in range(200)]
    assert 70 < sum(flips) < 130


def test_normalization_matches_torchvision(clip):
    cfg = AugmentConfig(**SMALL, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    reference = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(cfg.mean, cfg.std)])
    expected = reference(tv_tensors.Video(clip)).transpose(0, 1)
    assert torch.allclose(ModelInput(cfg.mean, cfg.std)(clip), expected, atol=1e-5)
    grey = torch.full((4, 3, 50, 60), 153, dtype=torch.uint8)
    out, _ = TrainTransform(cfg)(grey, torch.Generator().manual_seed(0))
    per_channel = (torch.tensor([0.6] * 3) - torch.tensor(cfg.mean)) / torch.tensor(cfg.std)
    assert torch.allclose(out, per_channel.view(3, 1, 1, 1).expand_as(out), atol=1e-5)


def test_augmentation_off_is_the_eval_centre_crop(clip):
    for switches in ({"enabled": False}, {"spatial": False}):
        cfg = AugmentConfig(**SMALL, hflip=1.0, **switches)
        out, flipped = TrainTransform(cfg)(clip, torch.Generator().manual_seed(1))
        assert not flipped
        assert torch.equal(out, EvalTransform(cfg)(clip)[0])


def test_eval_centre_and_three_crops_on_real_frames(full_size_clip):
    cfg = AugmentConfig()  # crop 224, short side 256; the clip is 340x256
    to_model = ModelInput(cfg.mean, cfg.std)
    one = EvalTransform(cfg)(full_size_clip)
    assert one.shape == (1, 3, 4, 224, 224)
    assert torch.equal(one, EvalTransform(cfg)(full_size_clip))
    assert torch.equal(one[0], to_model(full_size_clip[..., 16:240, 58:282]))
    three = EvalTransform(cfg, crops=3)(full_size_clip)
    assert three.shape == (3, 3, 4, 224, 224)
    for view, left in zip(three, (0, 58, 116), strict=True):  # left, centre, right
        assert torch.equal(view, to_model(full_size_clip[..., 16:240, left : left + 224]))
    portrait = full_size_clip.transpose(-1, -2).contiguous()  # 256 wide, 340 high
    tall = EvalTransform(cfg, crops=3)(portrait)
    for view, top in zip(tall, (0, 58, 116), strict=True):  # top, centre, bottom
        assert torch.equal(view, to_model(portrait[..., top : top + 224, 16:240]))


def test_eval_resizes_the_short_side(full_size_clip):
    out = EvalTransform(AugmentConfig(**SMALL))(full_size_clip)
    assert out.shape == (1, 3, 4, 32, 32)
    with pytest.raises(ConfigError, match=r"augment\.short_side"):
        EvalTransform(AugmentConfig(crop_size=64, short_side=32))


def test_rejects_channels_first_layout(clip):
    with pytest.raises(ValueError, match=r"\[T, 3, H, W\]"):
        EvalTransform(AugmentConfig(**SMALL))(clip.transpose(0, 1))


def test_pipeline_on_an_encoded_video_keeps_moving_content_apart(tmp_path):
    frames = np.zeros((6, 48, 64, 3), dtype=np.uint8)
    for t in range(6):
        frames[t, 10:30, 8 * t : 8 * t + 12] = 230  # a square moving right
    path = write_video(tmp_path / "moving.mp4", frames, fps=25, crf=10)
    video = _decode(path, 6, 40)
    out, flipped = TrainTransform(AugmentConfig(**SMALL, scale=(1.0, 1.0)))(
        video, torch.Generator().manual_seed(3)
    )
    mass = out[0] - out[0].min()  # brightness above the background, per frame [T, S, S]
    centres = [float((mass[t].sum(0) * torch.arange(32)).sum() / mass[t].sum()) for t in range(6)]
    moving = np.diff(centres) < 0 if flipped else np.diff(centres) > 0
    assert moving.all()  # the motion survives the crop (mirrored when flipped)


def test_flip_label_map_is_symmetric_and_checks_names():
    names = ["swiping left", "swiping right", "clap", "turn cw", "turn ccw"]
    pairs = {"swiping left": "swiping right", "turn ccw": "turn cw"}
    assert flip_label_map(names, pairs) == {0: 1, 1: 0, 4: 3, 3: 4}
    with pytest.raises(ConfigError, match=r"augment\.flip_label_map.*'jump'"):
        flip_label_map(names, {"jump": "clap"})
    with pytest.raises(ConfigError, match="two different"):
        flip_label_map(names, {"swiping left": "swiping right", "swiping right": "clap"})


def test_direction_sensitive_classes_are_word_aware():
    names = [
        "Swiping Left",
        "turn_right",
        "RotateCounterClockwise",
        "Turning Hand Clockwise",
        "rolling anticlockwise",
        "pushing something from left to right",
        "upright row",
        "copyright",
        "leftover",
        "clapping",
    ]
    assert direction_sensitive_classes(names) == names[:6]


def test_warning_for_unmapped_direction_classes():
    names = ["Swiping Left", "Swiping Right", "Turning Clockwise", "clap"]
    with pytest.warns(AugmentationWarning, match="'Turning Clockwise'") as record:
        missing = warn_unmapped_direction_classes(
            names, {"Swiping Left": "Swiping Right"}, hflip=0.5
        )
    assert missing == ["Turning Clockwise"] and "Swiping" not in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_unmapped_direction_classes(names, {}, hflip=0.0) == []


GUARDED = [
    ({"rotation": 10.0}, "augment.rotation", "direction of motion"),
    ({"perspective": 0.2}, "augment.perspective", "trajectories"),
    ({"elastic": 30.0}, "augment.elastic", "look like motion"),
    ({"blur_sigma": 2.5}, "augment.blur_sigma", "fine motion"),
    ({"random_erasing": 0.25}, "augment.random_erasing", "hide the moving object"),
    ({"frame_cutmix": True}, "augment.frame_cutmix", "motion of both clips is destroyed"),
    ({"scale": (0.2, 1.0)}, "augment.scale", "cut the actor"),
]


@pytest.mark.parametrize(("update", "key", "reason"), GUARDED)
def test_guard_flags_each_harmful_augmentation(update, key, reason):
    cfg = AugmentConfig(**update)
    findings = check_augmentations(cfg)
    assert [f.key for f in findings] == [key] and reason in findings[0].reason
    with pytest.warns(AugmentationWarning, match=key):
        assert enforce_guard(cfg) == findings
    with pytest.raises(ConfigError, match=f"{key}.*{reason}"):
        enforce_guard(cfg.model_copy(update={"strict": True}))


def test_guard_passes_safe_settings():
    safe = AugmentConfig(blur_sigma=1.5, scale=(0.5, 1.0), color_jitter=0.8, grayscale=0.2)
    assert check_augmentations(safe) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert enforce_guard(safe.model_copy(update={"strict": True})) == []
    assert len(check_augmentations(_all_on())) == 6
