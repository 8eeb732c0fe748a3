"""Dataset readers: folder, list/CSV, UCF101, HMDB51, rawframes and unlabeled layouts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from motionfit.data.encode import write_video
from motionfit.data.records import LabelMap, VideoRecord, read_records
from motionfit.errors import DataError


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny real h264 file, copied wherever a test needs a video."""
    frames = np.random.default_rng(0).integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, fps=10)


def place(clip: Path, *paths: Path) -> None:
    """Copy the real clip to each path (creating folders)."""
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, path)


def frame_folder(folder: Path, count: int = 3) -> Path:
    """A rawframes folder ``img_00001.jpg`` ... (content irrelevant to the reader)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(1, count + 1):
        (folder / f"img_{index:05d}.jpg").write_bytes(b"\xff\xd8")
    return folder


def test_folder_layout_sorted_classes_nested_videos_and_frame_folders(
    tmp_path: Path, clip: Path
) -> None:
    root = tmp_path / "data"
    place(clip, root / "walk" / "b.MP4", root / "walk" / "sub" / "a.avi", root / "run" / "x.webm")
    frame_folder(root / "run" / "frames_vid")
    (root / "run" / "notes.txt").write_text("not a video")
    place(clip, root / ".hidden" / "h.mp4")

    records, label_map = read_records(root)

    assert label_map.names == ("run", "walk")
    assert [(r.path.relative_to(root).as_posix(), r.label) for r in records] == [
        ("run/frames_vid", 0),
        ("run/x.webm", 0),
        ("walk/b.MP4", 1),
        ("walk/sub/a.avi", 1),
    ]
    assert all(r.path.is_absolute() and r.group is None and r.start is None for r in records)


def test_folder_with_label_file_fixes_order_and_rejects_unknown_class(
    tmp_path: Path, clip: Path
) -> None:
    root = tmp_path / "data"
    place(clip, root / "a" / "1.mp4", root / "b" / "2.mp4")
    labels = LabelMap.from_names(["b", "zzz", "a"]).save(tmp_path / "labels.txt")

    records, label_map = read_records(root, format="folder", labels=labels)
    assert label_map.names == ("b", "zzz", "a")
    assert [r.label for r in records] == [2, 0]

    with pytest.raises(DataError, match=r"class folder 'a' is not in the label map"):
        read_records(root, labels=LabelMap.from_names(["b"]))


def test_folder_warns_about_empty_class(tmp_path: Path, clip: Path) -> None:
    place(clip, tmp_path / "a" / "1.mp4")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "readme.txt").write_text("x")
    with pytest.warns(UserWarning, match="holds no videos"):
        records, label_map = read_records(tmp_path, format="folder")
    assert label_map.names == ("a", "b") and len(records) == 1


def test_auto_detects_unlabeled_and_refuses_ambiguous_folder(tmp_path: Path, clip: Path) -> None:
    flat = tmp_path / "flat"
    place(clip, flat / "x.mp4", flat / "y.mkv")
    frame_folder(flat / "frames")
    records, label_map = read_records(flat)
    assert [r.path.name for r in records] == ["frames", "x.mp4", "y.mkv"]
    assert {r.label for r in records} == {-1} and len(label_map) == 0

    mixed = tmp_path / "mixed"
    place(clip, mixed / "top.mp4", mixed / "cls" / "v.mp4")
    with pytest.raises(DataError, match="both video files and class folders"):
        read_records(mixed)
    assert len(read_records(mixed, format="unlabeled")[0]) == 2


def test_real_clips_folder_reads_as_unlabeled(real_videos_dir: Path, real_videos: list) -> None:
    records, _ = read_records(real_videos_dir)
    assert [r.path for r in records] == real_videos
    assert all(r.label == -1 for r in records)


@pytest.mark.parametrize("sep", [" ", "\t", ",", "  "])
def test_list_file_separators_names_segments_and_comments(
    tmp_path: Path, clip: Path, sep: str
) -> None:
    place(clip, tmp_path / "v" / "a.mp4", tmp_path / "v" / "b.mp4", tmp_path / "v" / "c.mp4")
    lines = ["# comment", f"v/a.mp4{sep}jump", "", f"v/b.mp4{sep}catch{sep}1.5{sep}3", "v/c.mp4"]
    lines[-1] += f"{sep}jump"
    source = tmp_path / "train.lst"
    source.write_text("\n".join(lines) + "\n")

    records, label_map = read_records(source)

    assert label_map.names == ("catch", "jump")
    assert records == [
        VideoRecord(tmp_path / "v" / "a.mp4", 1),
        VideoRecord(tmp_path / "v" / "b.mp4", 0, 1.5, 3.0),
        VideoRecord(tmp_path / "v" / "c.mp4", 1),
    ]


def test_list_integer_ids_video_root_and_labels_file(tmp_path: Path, clip: Path) -> None:
    videos = tmp_path / "videos"
    place(clip, videos / "a.mp4", videos / "b.mp4")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "val.txt").write_text("a.mp4 2\nb.mp4 0\n")

    records, label_map = read_records(lists / "val.txt", video_root=videos)
    assert [r.label for r in records] == [2, 0]
    assert label_map.names == ("0", "1", "2")
    assert records[0].path == videos / "a.mp4"

    named = LabelMap.from_names(["x", "y", "z"])
    records, label_map = read_records(lists / "val.txt", video_root=videos, labels=named)
    assert label_map == named and [r.label for r in records] == [2, 0]

    # a labels.txt beside the list fixes the class order
    named.save(lists / "labels.txt")
    (lists / "named.txt").write_text("a.mp4 z\nb.mp4 x\n")
    records, label_map = read_records(lists / "named.txt", video_root=videos)
    assert label_map == named and [r.label for r in records] == [2, 0]


def test_list_errors_name_file_and_line(tmp_path: Path, clip: Path) -> None:
    place(clip, tmp_path / "a.mp4")
    bad = tmp_path / "bad.txt"
    bad.write_text("a.mp4 0\na.mp4 0 1.0\n")
    with pytest.raises(DataError, match=rf"{bad}:2: expected 'path label \[start end\]'"):
        read_records(bad)

    bad.write_text("a.mp4 0\n\na.mp4 0 x 2\n")
    with pytest.raises(DataError, match=rf"{bad}:3: 'x' is not a number of seconds"):
        read_records(bad)

    bad.write_text("a.mp4 0 3 1\n")
    with pytest.raises(DataError, match=rf"{bad}:1: segment end 1.0 is not after start 3.0"):
        read_records(bad)

    bad.write_text("a.mp4 walk\na.mp4 swim\n")
    with pytest.raises(DataError, match=rf"{bad}:2: unknown label 'swim'"):
        read_records(bad, labels=LabelMap.from_names(["walk"]))

    bad.write_text("a.mp4 walk\na.mp4\n")
    with pytest.raises(DataError, match=rf"{bad}:2: missing label"):
        read_records(bad)


def test_csv_with_header_columns_groups_and_segments(tmp_path: Path, clip: Path) -> None:
    place(clip, tmp_path / "clips" / "one.mp4", tmp_path / "clips" / "two, too.mp4")
    source = tmp_path / "index.csv"
    source.write_text(
        "Class,Video,Start_Time,End_Time,Subject\n"
        "wave,clips/one.mp4,0.5,2.25,s01\n"
        'clap,"clips/two, too.mp4",,,\n'
    )
    records, label_map = read_records(source)
    assert label_map.names == ("clap", "wave")
    assert records == [
        VideoRecord(tmp_path / "clips" / "one.mp4", 1, 0.5, 2.25, "s01"),
        VideoRecord(tmp_path / "clips" / "two, too.mp4", 0),
    ]


def test_kinetics_and_something_something_csv_names(tmp_path: Path, clip: Path) -> None:
    place(clip, tmp_path / "abseiling" / "abc_000010_000020.mp4", tmp_path / "zz_000000_000010.mkv")
    kinetics = tmp_path / "train.csv"
    kinetics.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,abc,10,20,train\n"
        "archery,zz,0,10,train\n"
    )
    records, label_map = read_records(kinetics)
    assert label_map.names == ("abseiling", "archery")
    assert [r.path for r in records] == [
        tmp_path / "abseiling" / "abc_000010_000020.mp4",
        tmp_path / "zz_000000_000010.mkv",
    ]
    assert all(r.start is None for r in records)  # the files are already trimmed

    place(clip, tmp_path / "ssv2" / "7421.webm")
    ssv2 = tmp_path / "ssv2.csv"
    ssv2.write_text("id,label\n7421,Pushing something\n")
    records, _ = read_records(ssv2, video_root=tmp_path / "ssv2")
    assert records[0].path == tmp_path / "ssv2" / "7421.webm"


def test_ucf101_official_lists(tmp_path: Path, clip: Path) -> None:
    videos = tmp_path / "UCF-101"
    names = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "Archery/v_Archery_g01_c03.avi"]
    place(clip, *(videos / n for n in names))
    splits = tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 ApplyLipstick\n3 Archery\n")
    (splits / "trainlist01.txt").write_text(f"{names[0]} 1\r\n{names[1]} 3\r\n")
    (splits / "testlist01.txt").write_text(f"{names[1]}\n")

    train, label_map = read_records(splits / "trainlist01.txt", video_root=videos)
    assert label_map.names == ("ApplyEyeMakeup", "ApplyLipstick", "Archery")
    assert train == [
        VideoRecord(videos / names[0], 0, group="g08"),
        VideoRecord(videos / names[1], 2, group="g01"),
    ]
    test, _ = read_records(splits / "testlist01.txt", video_root=videos)
    assert test == [VideoRecord(videos / names[1], 2, group="g01")]

    (splits / "trainlist02.txt").write_text(f"{names[0]} 2\n")
    with pytest.raises(DataError, match=r"trainlist02.txt:1: class id '2' does not match"):
        read_records(splits / "trainlist02.txt", video_root=videos)

    with pytest.raises(DataError, match="none of its 2 videos exist"):
        read_records(splits / "trainlist01.txt")  # wrong root: videos are not beside the lists


def test_hmdb51_split_selection(tmp_path: Path, clip: Path) -> None:
    splits = tmp_path / "splits"
    splits.mkdir()
    for cls in ("brush_hair", "cartwheel"):
        for split in (1, 2):
            lines = [f"{cls}_a.avi {split}", f"{cls}_b.avi {3 - split}", f"{cls}_c.avi 0"]
            (splits / f"{cls}_test_split{split}.txt").write_text("\n".join(lines) + "\n")
            for name in "abc":
                place(clip, tmp_path / "videos" / cls / f"{cls}_{name}.avi")
    videos = tmp_path / "videos"

    train, label_map = read_records(splits, video_root=videos)
    assert label_map.names == ("brush_hair", "cartwheel")
    assert [(r.path.name, r.label) for r in train] == [
        ("brush_hair_a.avi", 0),
        ("cartwheel_a.avi", 1),
    ]
    assert all(r.path.parent.name == label_map.name_of(r.label) for r in train)

    test2, _ = read_records(f"{splits}@test2", video_root=videos)
    assert [r.path.name for r in test2] == ["brush_hair_a.avi", "cartwheel_a.avi"]
    test1, _ = read_records(f"{splits / 'cartwheel_test_split1.txt'}@test", video_root=videos)
    assert [r.path.name for r in test1] == ["brush_hair_b.avi", "cartwheel_b.avi"]
    train2, _ = read_records(splits / "brush_hair_test_split2.txt", video_root=videos)
    assert [r.path.name for r in train2] == ["brush_hair_b.avi", "cartwheel_b.avi"]

    with pytest.raises(DataError, match="no HMDB51 split files"):
        read_records(f"{splits}@train3", video_root=videos)
    with pytest.raises(DataError, match="selects an HMDB51 split"):
        read_records(f"{splits}@test1", format="list")


def test_rawframes_list_and_folder(tmp_path: Path) -> None:
    root = tmp_path / "rawframes"
    frame_folder(root / "jump" / "vid1")
    frame_folder(root / "sit" / "vid2")
    source = tmp_path / "rawframes_train.txt"
    source.write_text("jump/vid1 3 1\nsit/vid2 3 0\n")

    records, label_map = read_records(source, video_root=root)
    assert [(r.path, r.label) for r in records] == [
        (root / "jump" / "vid1", 1),
        (root / "sit" / "vid2", 0),
    ]
    assert label_map.names == ("0", "1")

    by_folder, names = read_records(root, format="rawframes")
    assert names.names == ("jump", "sit")
    assert [(r.path.name, r.label) for r in by_folder] == [("vid1", 0), ("vid2", 1)]

    source.write_text("jump/vid1 three 1\n")
    with pytest.raises(DataError, match=rf"{source}:1: expected 'frame_dir total_frames label'"):
        read_records(source, format="rawframes", video_root=root)


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"dataset source not found: {tmp_path / 'nope'}"):
        read_records(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no videos found"):
        read_records(tmp_path / "empty")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(DataError, match="list file has no entries"):
        read_records(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="unknown dataset format"):
        read_records(tmp_path, format="kinetics")
    with pytest.raises(DataError, match="format 'folder' needs a folder"):
        read_records(tmp_path / "empty.txt", format="folder")
    with pytest.raises(DataError, match="format 'list' needs a file"):
        read_records(tmp_path / "empty", format="list")


def test_label_map_roundtrip_and_errors(tmp_path: Path) -> None:
    label_map = LabelMap.from_names(["walk", "run", "turn left"])
    path = label_map.save(tmp_path / "labels.txt")
    assert path.read_text() == "walk\nrun\nturn left\n"
    assert LabelMap.load(path) == label_map
    assert label_map.id_of("run") == 1 and label_map.name_of(2) == "turn left"
    assert len(label_map) == 3 and "walk" in label_map and "swim" not in label_map

    (tmp_path / "classInd.txt").write_text("1 b\n2 a\n")
    assert LabelMap.load(tmp_path / "classInd.txt").names == ("b", "a")

    with pytest.raises(DataError, match="unknown class 'swim'"):
        label_map.id_of("swim")
    with pytest.raises(DataError, match="class id 3 out of range"):
        label_map.name_of(3)
    with pytest.raises(DataError, match="appears twice"):
        LabelMap.from_names(["a", "a"])
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(DataError, match=r"dup.txt: class name 'a' appears twice"):
        LabelMap.load(tmp_path / "dup.txt")
