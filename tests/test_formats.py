"""The format table: every format's sniffer recognizes a tiny real example of its layout, ``auto``
picks that format, and ``read_records`` and the config accept exactly the table's names (and the
decoder names of ``decode.BACKENDS``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from motionfit.config import load_config
from motionfit.data.dataset import resolve_decoder
from motionfit.data.decode import BACKENDS, probe
from motionfit.data.encode import write_video
from motionfit.data.formats import FORMATS, format_names, guess_format
from motionfit.data.records import read_records
from motionfit.errors import ConfigError, DataError

FRAMES = np.random.default_rng(0).integers(0, 255, (6, 32, 48, 3), dtype=np.uint8)


def video(path: Path) -> Path:
    """A tiny real video at ``path``: mpeg4 in .avi, vp9 in .webm, h264 otherwise."""
    codec = {".avi": "mpeg4", ".webm": "vp9"}.get(path.suffix, "h264")
    return write_video(path, FRAMES, fps=10, codec=codec)


def frame_images(folder: Path) -> Path:
    """A real rawframes folder: the clip's frames as ``img_00001.jpg`` ..."""
    folder.mkdir(parents=True)
    for index, frame in enumerate(FRAMES, start=1):
        Image.fromarray(frame).save(folder / f"img_{index:05d}.jpg")
    return folder


def folder_example(tmp: Path) -> Path:
    video(tmp / "data" / "walk" / "v_walk_g01_c01.mp4")
    video(tmp / "data" / "run" / "nested" / "b.mkv")
    return tmp / "data"


def list_example(tmp: Path) -> Path:
    video(tmp / "clips" / "a.mp4")
    video(tmp / "clips" / "b.webm")
    (tmp / "train.csv").write_text("video,label,start,end\nclips/a.mp4,walk,0,0.3\nclips/b,run,,\n")
    return tmp / "train.csv"


def ucf101_example(tmp: Path) -> Path:
    video(tmp / "Walk" / "v_Walk_g02_c01.avi")
    (tmp / "classInd.txt").write_text("1 Run\n2 Walk\n")
    (tmp / "trainlist01.txt").write_text("Walk/v_Walk_g02_c01.avi 2\n")
    return tmp / "trainlist01.txt"


def hmdb51_example(tmp: Path) -> Path:
    video(tmp / "walk" / "walk_a.avi")
    video(tmp / "walk" / "walk_b.avi")
    (tmp / "walk_test_split1.txt").write_text("walk_a.avi 1\nwalk_b.avi 2\n")
    return tmp / "walk_test_split1.txt"


def rawframes_example(tmp: Path) -> Path:
    frame_images(tmp / "walk" / "vid1")
    (tmp / "rawframes_train.txt").write_text(f"walk/vid1 {len(FRAMES)} 0\n")
    return tmp / "rawframes_train.txt"


def unlabeled_example(tmp: Path) -> Path:
    video(tmp / "videos" / "x.mp4")
    frame_images(tmp / "videos" / "y")
    return tmp / "videos"


EXAMPLES: dict[str, Callable[[Path], Path]] = {
    "folder": folder_example,
    "list": list_example,
    "ucf101": ucf101_example,
    "hmdb51": hmdb51_example,
    "rawframes": rawframes_example,
    "unlabeled": unlabeled_example,
}


def test_every_format_has_an_example_and_a_description() -> None:
    assert set(EXAMPLES) == set(FORMATS)
    assert all(layout.description.strip() for layout in FORMATS.values())


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_sniffer_recognizes_its_layout_and_auto_reads_it(tmp_path: Path, name: str) -> None:
    source = EXAMPLES[name](tmp_path)

    assert FORMATS[name].sniff(source)
    assert guess_format(source) == name
    records, label_map = read_records(source)
    assert (records, label_map) == read_records(source, format=name)
    for record in records:  # each record is a real, decodable video or frame folder
        assert probe(record.path).num_frames == len(FRAMES)
        assert record.label < len(label_map)


def test_a_folder_of_split_files_is_hmdb51(tmp_path: Path) -> None:
    split_file = hmdb51_example(tmp_path)
    assert FORMATS["hmdb51"].sniff(tmp_path)
    assert guess_format(tmp_path) == "hmdb51"
    assert read_records(tmp_path) == read_records(split_file)


def test_sniffers_refuse_what_no_format_reads(tmp_path: Path) -> None:
    stray = video(tmp_path / "clip.mp4")
    assert not any(layout.sniff(stray) for layout in FORMATS.values())
    with pytest.raises(DataError, match="cannot guess the dataset format"):
        read_records(stray)


def test_config_and_read_records_accept_exactly_the_table(tmp_path: Path) -> None:
    assert format_names() == ("auto", *FORMATS)
    for name in format_names():
        assert load_config(None, [f"data.format={name}"]).data.format == name
    source = unlabeled_example(tmp_path)
    assert read_records(source, format="unlabeled")[0]

    # the schema knows no formats (it imports no data layer): the reader checks the name
    known = ", ".join(format_names())
    assert load_config(None, ["data.format=kinetics"]).data.format == "kinetics"
    with pytest.raises(DataError) as error:
        read_records(source, format="kinetics")
    assert str(error.value) == (
        f"config key 'data.format' (--format): unknown dataset format 'kinetics' (one of: {known})"
    )


def test_config_accepts_exactly_the_decoders(tmp_path: Path) -> None:
    for name in BACKENDS:
        assert load_config(None, [f"data.decoder={name}"]).data.decoder == name
    # the schema knows no decoders: a run checks the name before it writes anything
    with pytest.raises(ConfigError, match=r"config key 'data\.decoder': unknown decoder 'ffmpeg'"):
        resolve_decoder(load_config(None, ["data.decoder=ffmpeg"]).data.decoder)
