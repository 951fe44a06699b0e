"""Video: frames in (file or folder), one JSON line and one MP4 frame out per frame,
One-Euro smoothing by hand, and bad input. The tracker itself: tests/test_tracking.py."""

import json

import cv2
import numpy as np
import pytest

from datasets.synthetic import wild
from pose3d_jax import infer
from pose3d_jax.inference import video_io
from pose3d_jax.tracking import smoothing

NUM_FRAMES = 10


def _write_clip(path, frames, fps=25.0):
    height, width = frames[0].image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames = wild.random_clip(np.random.default_rng(0), NUM_FRAMES, width=192, height=144)
    return _write_clip(tmp_path_factory.mktemp("clip") / "walk.mp4", frames)


def test_video_gives_a_line_and_a_frame_per_frame(clip, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [str(clip), "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--chunk", "3"]
    argv += ["--detect", "network", "--detect-every", "5", "--redetect-fraction", "0"]
    assert infer.main([*argv, "--backend", "xla", "--smooth"]) == 0
    lines = [json.loads(line) for line in (out / "walk.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(NUM_FRAMES))
    assert lines[1]["time_s"] == pytest.approx(1 / 25)
    assert all(line["num_people"] == 1 for line in lines)  # the network's search: one person
    person = lines[0]["people"][0]
    assert np.asarray(person["joints_2d"]).shape == (16, 2)
    assert np.asarray(person["joints_3d_mm"]).shape == (16, 3)
    assert person["track_id"] == 0 and person["detected"] and lines[0]["detector_ran"]
    ran = [line["detector_ran"] for line in lines]  # chunks of 3: the second sighting, then 5 on
    assert ran == [True, False, False, True, False, False, False, False, False, True]
    assert {line["people"][0]["crop"]["source"] for line in lines} == {"tracked"}
    assert video_io.count_frames(out / "walk.mp4") == NUM_FRAMES
    summary = json.loads((out / "walk.json").read_text())
    assert summary["frames"] == NUM_FRAMES and summary["skipped"] == 0
    assert summary["detector_runs"] == 3 and summary["detection"]["method"] == "network"
    assert summary["tracks"] == [{"track_id": 0, "first_frame": 0, "last_frame": NUM_FRAMES - 1}]
    assert summary["settings"]["smoothing"]["beta"] == 0.05
    assert summary["provenance"]["kind"] == "untrained"
    err = capsys.readouterr().err
    assert "frames/s" in err and "UNTRAINED" in err
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_one_euro_matches_the_formula_by_hand():
    settings = smoothing.OneEuroSettings(min_cutoff=1.0, beta=0.5, d_cutoff=2.0)
    f = smoothing.OneEuroFilter(settings)
    assert f(np.array([10.0]), 0.0) == pytest.approx([10.0])
    dt = 0.1
    a_d = 1 / (1 + 1 / (2 * np.pi * 2.0) / dt)
    dx_hat = a_d * (12.0 - 10.0) / dt
    cutoff = 1.0 + 0.5 * abs(dx_hat)
    a = 1 / (1 + 1 / (2 * np.pi * cutoff) / dt)
    assert f(np.array([12.0]), dt) == pytest.approx([a * 12.0 + (1 - a) * 10.0])


def test_damaged_frame_in_a_folder_is_skipped_and_counted(tiny_checkpoint, tmp_path, capsys):
    frames = wild.random_clip(np.random.default_rng(1), 4, width=96, height=96)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(
            str(folder / f"frame_{i + 1}.png"), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
        )
    (folder / "frame_10.png").write_bytes(b"\x89PNG broken")  # sorted last: 1, 2, 3, 4, 10
    out = tmp_path / "out"
    argv = [str(folder), "--frames", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]
    assert infer.main([*argv, "--backend", "xla"]) == 0
    lines = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    assert len(lines) == 5 and "skipped" in lines[4] and "skipped" not in lines[3]
    assert all(isinstance(line["people"], list) for line in lines[:4])
    assert json.loads((out / "frames.json").read_text())["skipped"] == 1
    assert "frame 4 skipped" in capsys.readouterr().err
    assert video_io.count_frames(out / "frames.mp4") == 5


def _text_as_mp4(folder):
    (folder / "clip.mp4").write_text("not a video")
    return folder / "clip.mp4"


def _empty_folder(folder):
    (folder / "empty").mkdir()
    return folder / "empty"


@pytest.mark.parametrize(
    "make, phrase",
    [
        (_text_as_mp4, "as a video"),
        (_empty_folder, "holds no image files"),
        (lambda folder: folder / "missing.mp4", "does not exist"),
    ],
)
def test_bad_video_input_is_one_error_and_leaves_nothing(
    make, phrase, tiny_checkpoint, tmp_path, capsys
):
    source = make(tmp_path)
    out = tmp_path / "out"
    argv = [str(source), "--frames", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]
    assert infer.main([*argv, "--backend", "xla"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and phrase in errors[0] and str(source) in errors[0]
    assert not out.exists() or list(out.iterdir()) == []
