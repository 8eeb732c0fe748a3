"""Spatial transforms (uint8 in, uint8 out), the decode-size rule, batch normalization, flip labels
and the augmentation guard, on frames of real encoded video."""

from __future__ import annotations

import warnings
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from motionfit.config import AugmentConfig
from motionfit.data.encode import write_video
from motionfit.data.guard import AugmentationWarning, check_augmentations, enforce_guard
from motionfit.data.transforms import (
    EvalTransform,
    TrainTransform,
    VideoNormalize,
    decode_short_side,
    direction_sensitive_classes,
    flip_label_map,
    stack_clips,
    warn_unmapped_direction_classes,
)
from motionfit.errors import ConfigError

SMALL = dict(crop_size=32, short_side=40)
KINETICS = dict(mean=(0.45,) * 3, std=(0.225,) * 3)  # what a run resolves for the CNNs


def _decode(path: Path, num_frames: int, short_side: int | None = None) -> torch.Tensor:
    """The first frames of a video as uint8 [T, 3, H, W] (channels-last memory, as the decoder
    gives), short side resized unless ``None``."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        scale = 1.0 if short_side is None else short_side / min(stream.height, stream.width)
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
    return _decode(real_videos_dir / "h264_340x256_30fps.mp4", 4)


@pytest.fixture(scope="module")
def ucf_like_clip(real_videos_dir: Path) -> torch.Tensor:
    """4 frames of a real 320x240 mpeg4 clip at full size (the benchmark's source size)."""
    return _decode(real_videos_dir / "mpeg4_with_audio_320x240_25fps.avi", 4)


def _is_channels_last(clip: torch.Tensor) -> bool:
    """Whether a [..., C, T, H, W] clip is a view of [..., T, H, W, C] memory."""
    return clip.movedim(-4, -1).is_contiguous()


def _all_on() -> AugmentConfig:
    return AugmentConfig(
        **SMALL,
        **KINETICS,
        scale=(0.3, 1.0),
        color_jitter={"p": 1.0},
        grayscale={"p": 0.3},
        rotation={"degrees": 20},
        perspective={"distortion": 0.3},
        elastic={"alpha": 20.0},
        blur={"sigma": 2.0},
        random_erasing={"p": 0.7},
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
    assert out.shape == (3, 8, 32, 32) and out.dtype == torch.uint8
    assert _is_channels_last(out)  # no transposing copy was made
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


def test_video_normalize_matches_torchvision_on_float(clip):
    cfg = AugmentConfig(**SMALL, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    reference = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(cfg.mean, cfg.std)])
    expected = reference(tv_tensors.Video(clip)).transpose(0, 1)  # [C, T, H, W]
    normalize = VideoNormalize.from_config(cfg)
    out = normalize(clip.transpose(0, 1))  # a channels-last view, as the transforms give
    assert out.dtype == torch.float32 and out.is_contiguous()
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    batch = torch.stack([clip.transpose(0, 1), clip.flip(-1).transpose(0, 1)])  # [B, C, T, H, W]
    torch.testing.assert_close(normalize(batch)[1], expected.flip(-1), atol=1e-5, rtol=0)
    repeats = batch.unsqueeze(1).expand(-1, 2, -1, -1, -1, -1)  # [B, R, C, T, H, W]
    torch.testing.assert_close(normalize(repeats)[1, 1], expected.flip(-1), atol=1e-5, rtol=0)


def test_video_normalize_follows_the_device_and_rejects_float(clip):
    normalize = VideoNormalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.5))
    assert normalize.state_dict() == {}  # constants, not weights
    on_meta = VideoNormalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.5)).to("meta")
    assert on_meta.mean.device.type == "meta"
    out = on_meta(clip.transpose(0, 1).to("meta"))
    assert out.device.type == "meta" and out.dtype == torch.float32
    assert out.shape == (3, *clip.shape[:1], *clip.shape[2:])
    white = torch.full((3, 2, 4, 4), 255, dtype=torch.uint8)
    expected = torch.tensor([2.5, 2.4, 1.4]).view(3, 1, 1, 1).expand(3, 2, 4, 4)
    torch.testing.assert_close(normalize(white), expected)
    with pytest.raises(TypeError, match="uint8"):
        normalize(white.float() / 255)
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, T, H, W\]"):
        normalize(clip)  # [T, C, H, W]: channels in the wrong place


def test_train_output_normalizes_to_the_per_channel_value():
    cfg = AugmentConfig(**SMALL, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    grey = torch.full((4, 3, 50, 60), 153, dtype=torch.uint8)
    out, _ = TrainTransform(cfg)(grey, torch.Generator().manual_seed(0))
    assert torch.equal(out, torch.full((3, 4, 32, 32), 153, dtype=torch.uint8))
    per_channel = (torch.tensor([0.6] * 3) - torch.tensor(cfg.mean)) / torch.tensor(cfg.std)
    normalized = VideoNormalize.from_config(cfg)(out)
    torch.testing.assert_close(normalized, per_channel.view(3, 1, 1, 1).expand_as(normalized))


def test_decode_size_rule():
    assert decode_short_side(320, 240, 256) is None  # smaller: the crop's resize upscales
    assert decode_short_side(340, 256, 256) is None
    assert decode_short_side(512, 384, 256) is None  # up to 1.5x the short side: native
    assert decode_short_side(514, 386, 256) == 256  # beyond: downscaled while decoding
    assert decode_short_side(854, 480, 256) == 256
    assert decode_short_side(1920, 1080, 256) == 256
    assert decode_short_side(1080, 1920, 256) == 256  # portrait: the short side is the width
    assert decode_short_side(1920, 1080, 720) is None


def test_native_frames_give_crops_relative_to_the_frame(ucf_like_clip):
    """RandomResizedCrop on a frame decoded at its own size (320x240): scale and ratio are
    relative to that frame, and the crop is resized once."""
    whole = AugmentConfig(
        crop_size=64, short_side=72, scale=(1.0, 1.0), ratio=(4 / 3, 4 / 3), hflip=0.0
    )
    out, _ = TrainTransform(whole)(ucf_like_clip, torch.Generator().manual_seed(0))
    assert torch.equal(out, F.resize(ucf_like_clip, [64, 64], antialias=True).transpose(0, 1))
    # ramps: red = column, green = row, in 0..255 across the frame
    ramp_x = torch.arange(320).mul(255).div(319).round().to(torch.uint8).expand(240, 320)
    ramp_y = torch.arange(240).mul(255).div(239).round().to(torch.uint8)[:, None].expand(240, 320)
    ramps = torch.stack([ramp_x, ramp_y, ramp_x]).expand(2, -1, -1, -1)
    quarter = whole.model_copy(update={"scale": (0.25, 0.25)})  # a 160x120 region
    for seed in range(5):
        crop, _ = TrainTransform(quarter)(ramps, torch.Generator().manual_seed(seed))
        for channel in (0, 1):  # half the frame's width and height: half of each ramp
            span = int(crop[channel].max()) - int(crop[channel].min())
            assert 120 <= span <= 130, (seed, channel, span)


def test_random_erasing_paints_the_mean_colour_in_every_frame():
    cfg = AugmentConfig(**SMALL, **KINETICS, random_erasing={"p": 1.0}, hflip=0.0)  # grey 115
    flat = torch.full((4, 3, 50, 60), 200, dtype=torch.uint8)
    normalize = VideoNormalize.from_config(cfg)
    erased_any = False
    for seed in range(10):
        out, _ = TrainTransform(cfg)(flat, torch.Generator().manual_seed(seed))
        assert out.dtype == torch.uint8 and set(out.unique().tolist()) <= {115, 200}
        box = out == 115
        assert torch.equal(box, box[:1, :1].expand_as(box))  # one box, all channels and frames
        erased_any |= bool(box.any())
        assert torch.all(normalize(out)[box].abs() < 0.01)  # the mean colour normalizes to ~0
    assert erased_any


def test_appearance_steps_run_in_float_and_round_back(clip):
    whole = dict(scale=(1.0, 1.0), ratio=(53 / 40, 53 / 40), hflip=0.0)  # the whole 53x40 frame
    cfg = AugmentConfig(**SMALL, **whole)
    plain, _ = TrainTransform(cfg)(clip, torch.Generator().manual_seed(0))
    grey, _ = TrainTransform(AugmentConfig(**SMALL, **whole, grayscale={"p": 1.0}))(
        clip, torch.Generator().manual_seed(0)
    )
    as_float = plain.transpose(0, 1).float() / 255
    expected = F.rgb_to_grayscale(as_float, num_output_channels=3).mul(255).round()
    assert grey.dtype == torch.uint8
    assert torch.equal(grey, expected.to(torch.uint8).transpose(0, 1))
    jittered, _ = TrainTransform(AugmentConfig(**SMALL, **whole, color_jitter={"p": 1.0}))(
        clip, torch.Generator().manual_seed(0)
    )
    assert jittered.dtype == torch.uint8 and not torch.equal(jittered, plain)


def test_augmentation_off_is_the_eval_centre_crop(clip):
    for switches in ({"enabled": False}, {"spatial": False}):
        cfg = AugmentConfig(**SMALL, hflip=1.0, **switches)
        out, flipped = TrainTransform(cfg)(clip, torch.Generator().manual_seed(1))
        assert not flipped
        assert torch.equal(out, EvalTransform(cfg)(clip)[0])


def test_eval_centre_and_three_crops_on_real_frames(full_size_clip):
    cfg = AugmentConfig()  # crop 224, short side 256; the clip is 340x256: plain crops
    one = EvalTransform(cfg)(full_size_clip)
    assert one.shape == (1, 3, 4, 224, 224) and one.dtype == torch.uint8
    assert torch.equal(one, EvalTransform(cfg)(full_size_clip))
    assert _is_channels_last(one)
    assert torch.equal(one[0], full_size_clip[..., 16:240, 58:282].transpose(0, 1))
    three = EvalTransform(cfg, crops=3)(full_size_clip)
    assert three.shape == (3, 3, 4, 224, 224)
    for view, left in zip(three, (0, 58, 116), strict=True):  # left, centre, right
        assert torch.equal(view, full_size_clip[..., 16:240, left : left + 224].transpose(0, 1))
    portrait = full_size_clip.transpose(-1, -2).contiguous()  # 256 wide, 340 high
    tall = EvalTransform(cfg, crops=3)(portrait)
    for view, top in zip(tall, (0, 58, 116), strict=True):  # top, centre, bottom
        assert torch.equal(view, portrait[..., top : top + 224, 16:240].transpose(0, 1))


def _resize_then_crop(video: torch.Tensor, cfg: AugmentConfig, crops: int) -> torch.Tensor:
    """The two-resize reference: short side to cfg's, then the crops of the resized frame."""
    resized = F.resize(video, [cfg.resolved_short_side()], antialias=True)
    height, width = resized.shape[-2:]
    size = cfg.crop_size
    top, left = round((height - size) / 2), round((width - size) / 2)
    lefts = (0, left, width - size) if crops == 3 else (left,)
    return torch.stack([resized[..., top : top + size, x : x + size] for x in lefts]).transpose(
        1, 2
    )


def test_eval_crop_then_resize_is_close_to_resize_then_crop(full_size_clip, ucf_like_clip):
    aligned = AugmentConfig(crop_size=112, short_side=128)  # 340x256 -> 170x128: exact 2x
    for crops in (1, 3):
        fused = EvalTransform(aligned, crops)(full_size_clip).float()
        reference = _resize_then_crop(full_size_clip, aligned, crops).float()
        assert fused.shape == reference.shape == (crops, 3, 4, 112, 112)
        assert (fused - reference).abs().mean() < 0.2  # only the crop's edge pixels differ
        inner = (fused - reference)[..., 2:-2, 2:-2].abs()
        assert inner.max() <= 1  # rounding
    # 320x240 -> 341x256: the region (210 source pixels) is centred in the source
    assert EvalTransform(AugmentConfig(), crops=3).crop_regions(240, 320) == [
        (15, 0, 210),
        (15, 55, 210),
        (15, 110, 210),
    ]
    fused = EvalTransform(AugmentConfig(), crops=3)(ucf_like_clip).float()
    reference = _resize_then_crop(ucf_like_clip, AugmentConfig(), 3).float()
    assert (fused - reference).abs().mean() < 4.0  # a sub-pixel shift on textured frames


def test_eval_resizes_the_crop_region(full_size_clip):
    out = EvalTransform(AugmentConfig(**SMALL))(full_size_clip)
    assert out.shape == (1, 3, 4, 32, 32)
    assert EvalTransform(AugmentConfig(**SMALL)).crop_regions(256, 340) == [(26, 68, 205)]
    with pytest.raises(ConfigError, match=r"augment\.short_side"):
        EvalTransform(AugmentConfig(crop_size=64, short_side=32))


def test_stack_clips_keeps_values_and_layout(clip):
    clips = [clip.transpose(0, 1), clip.flip(-1).transpose(0, 1)]
    stacked = stack_clips(clips)
    assert stacked.shape == (2, 3, 8, *clip.shape[-2:]) and _is_channels_last(stacked)
    assert torch.equal(stacked[0], clips[0]) and torch.equal(stacked[1], clips[1])


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
    mass = (out[0] - out[0].min()).float()  # brightness above the background, per frame [T, S, S]
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
    ({"rotation": {"degrees": 10.0}}, "augment.rotation.degrees", "direction of motion"),
    ({"perspective": {"distortion": 0.2}}, "augment.perspective.distortion", "trajectories"),
    ({"elastic": {"alpha": 30.0}}, "augment.elastic.alpha", "look like motion"),
    ({"blur": {"sigma": 2.5}}, "augment.blur.sigma", "fine motion"),
    ({"random_erasing": {"p": 0.25}}, "augment.random_erasing.p", "hide the moving object"),
    ({"mix": {"per_frame": True}}, "augment.mix.per_frame", "motion of both clips is destroyed"),
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
    safe = AugmentConfig(
        blur={"sigma": 1.5}, scale=(0.5, 1.0), color_jitter={"p": 0.8}, grayscale={"p": 0.2}
    )
    assert check_augmentations(safe) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert enforce_guard(safe.model_copy(update={"strict": True})) == []
    assert len(check_augmentations(_all_on())) == 6
