"""Every person in a photo through `python -m pose3d_jax.infer`: the people of real-frame
scenes, none in a blank frame, the detector's absence and damage, bounded batches, and
the JSON checked against docs/schema (also for a video's lines and summary)."""

import json

import cv2
import numpy as np
import pytest
from conftest import schema_validator

from datasets import pasted_scenes
from pose3d_jax import infer
from pose3d_jax.detection import detector as detector_lib
from pose3d_jax.detection import model_file
from pose3d_jax.inference import predictor as predictor_lib


def _write(path, rgb):
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def three_people(real_frames, tmp_path_factory):
    scene = pasted_scenes.random_scene(np.random.default_rng(3), real_frames, 1280, 720, 3)
    return scene, _write(tmp_path_factory.mktemp("scene") / "three.png", scene.image)


def test_every_person_of_a_real_scene_is_an_entry(
    three_people, detector_model, tiny_checkpoint, tmp_path, capsys
):
    scene, image = three_people
    out = tmp_path / "out"
    assert infer.main([str(image), "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 0
    record = json.loads((out / "three.json").read_text())
    schema_validator("image.schema.json").validate(record)
    assert record["num_people"] == 3 and record["detection"]["method"] == "detector"
    people = record["people"]
    assert [p["index"] for p in people] == [0, 1, 2]
    centres = [p["box_xywh"][0] + p["box_xywh"][2] / 2 for p in people]
    assert centres == sorted(centres)  # left to right
    hits, extra = pasted_scenes.match(scene.truth, [p["box_xywh"] for p in people], (1280, 720))
    assert hits.all() and extra == 0
    for p in people:
        assert 0.5 < p["detector_score"] < 1 and p["crop"]["source"] == "detected"
        np.testing.assert_allclose(p["crop"]["box_xywh"], p["box_xywh"], atol=0.01)
    assert f"{image}: 3 people" in capsys.readouterr().err
    drawn = cv2.imread(str(out / "three.png"))
    assert drawn.shape[0] == 720 and drawn.shape[1] == 1280 + 720  # image and the 3D view

    assert infer.main([str(image), "--checkpoint", str(tiny_checkpoint), "--out", str(out),
                       "--max-people", "2"]) == 0  # fmt: skip
    best_two = json.loads((out / "three.json").read_text())["people"]
    scores = sorted(p["detector_score"] for p in people)
    assert len(best_two) == 2 and min(p["detector_score"] for p in best_two) >= scores[1]


def test_no_person_is_said_in_the_json_and_the_line(
    detector_model, tiny_checkpoint, tmp_path, capsys
):
    blank = _write(tmp_path / "blank.png", np.full((480, 640, 3), 120, np.uint8))
    out = tmp_path / "out"
    assert infer.main([str(blank), "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 0
    record = json.loads((out / "blank.json").read_text())
    schema_validator("image.schema.json").validate(record)
    assert record["num_people"] == 0 and record["people"] == []
    assert record["message"] == "no person found (detection: detector)"
    assert f"{blank}: no person found (detection: detector)" in capsys.readouterr().err
    assert (out / "blank.png").stat().st_size > 1000


def test_without_the_detector_file_one_line_and_the_network_search(
    real_frames, tiny_checkpoint, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("POSE3D_JAX_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.delenv(model_file.ENV, raising=False)
    image = _write(tmp_path / "person.png", real_frames["mpii_14"])
    out = tmp_path / "out"
    assert infer.main([str(image), "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("warning:") and "detector" in line]
    assert len(warnings) == 1 and "--detect network instead" in warnings[0]
    assert "get_detector" in warnings[0]
    record = json.loads((out / "person.json").read_text())
    assert record["detection"]["method"] == "network" and record["num_people"] == 1
    assert record["people"][0]["crop"]["source"] == "localised"


@pytest.mark.parametrize("case", ["explicit_missing", "damaged_cache"])
def test_a_missing_or_damaged_detector_is_one_error_and_nothing_written(
    case, tiny_checkpoint, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv(model_file.ENV, raising=False)
    argv = [str(_write(tmp_path / "a.png", np.zeros((64, 64, 3), np.uint8)))]
    argv += ["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "out")]
    if case == "explicit_missing":
        argv += ["--detector-model", str(tmp_path / "nowhere.tflite")]
        phrase = "does not exist; give the path"
    else:
        monkeypatch.setenv("POSE3D_JAX_CACHE", str(tmp_path / "cache"))
        model_file.default_path().parent.mkdir(parents=True)
        model_file.default_path().write_bytes(b"truncated download")
        phrase = "is damaged"
    assert infer.main(argv) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and phrase in errors[0] and "get_detector" in errors[0]
    assert not (tmp_path / "out").exists()


def test_fifty_people_go_through_in_bounded_batches(tiny_checkpoint):
    class _Crowd:
        model_path, min_score, min_person = "crowd", 0.5, 0.2

        def __call__(self, image, max_people=None):
            people = [
                detector_lib.person_from_keypoints(
                    np.array(
                        [
                            [20.0 + 30 * (i % 10), 40.0 + 60 * (i // 10)],
                            [20.0 + 30 * (i % 10), 20.0 + 60 * (i // 10)],
                            [0, 0],
                            [0, 0],
                        ]
                    ),
                    0.9,
                )  # fmt: skip
                for i in range(50)
            ]
            return people[:max_people]

    runner = predictor_lib.Predictor.from_checkpoint(
        tiny_checkpoint, batch_size=8, warn=False, detector=_Crowd()
    )
    seen = []
    engine = runner.engine
    runner.engine = lambda crops, flip=False: seen.append(len(crops)) or engine(crops, flip=flip)
    runner.engine.name, runner.engine.fixed_shapes = engine.name, engine.fixed_shapes
    people = runner.people(np.zeros((320, 320, 3), np.uint8))
    assert len(people) == 50 and max(seen) <= 8 and sum(seen) >= 50
    assert all(p.detection is not None for p in people)


def test_video_lines_and_summary_follow_the_schema(
    real_frames, detector_model, tiny_checkpoint, tmp_path
):
    clip = pasted_scenes.crossing_clip(np.random.default_rng(1), real_frames, length=6)
    path = tmp_path / "walk.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (960, 540))
    for scene in clip:
        writer.write(cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / "out"
    assert infer.main([str(path), "--checkpoint", str(tiny_checkpoint), "--out", str(out)]) == 0
    frame_schema = schema_validator("video_frame.schema.json")
    lines = [json.loads(line) for line in (out / "walk.jsonl").read_text().splitlines()]
    for line in lines:
        frame_schema.validate(line)
    assert len(lines) == 6 and {p["track_id"] for p in lines[0]["people"]} == {0, 1}
    summary = json.loads((out / "walk.json").read_text())
    schema_validator("video_summary.schema.json").validate(summary)
    import jsonschema

    with pytest.raises(jsonschema.ValidationError, match="not valid under any"):
        frame_schema.validate({"frame": 0, "time_s": 0.0, "people": []})  # no num_people
    with pytest.raises(jsonschema.ValidationError, match="-1 is less than the minimum"):
        frame_schema.validate({**lines[0], "people": [{**lines[0]["people"][0], "track_id": -1}]})
