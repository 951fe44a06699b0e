"""Inference: the CLI on real and awkward images, bad inputs, the Predictor API."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REPO_ROOT
from PIL import Image

from pose3d_jax import checkpoint, fileio, infer, skeleton
from pose3d_jax.inference import crops


def _write_generated_images(folder):
    """Awkward inputs: grey, RGBA, 16-bit, palette, very wide, very small; PNG and JPEG."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "gray.png"), rng.integers(0, 255, (60, 40), dtype=np.uint8))
    cv2.imwrite(str(folder / "rgba.png"), rng.integers(0, 255, (50, 50, 4), dtype=np.uint8))
    cv2.imwrite(str(folder / "gray16.png"), rng.integers(0, 65535, (40, 30), dtype=np.uint16))
    cv2.imwrite(str(folder / "rgb16.png"), rng.integers(0, 65535, (30, 45, 3), dtype=np.uint16))
    cv2.imwrite(str(folder / "wide.jpg"), rng.integers(0, 255, (200, 3000, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "tiny.png"), rng.integers(0, 255, (17, 17, 3), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 255, (33, 21), dtype=np.uint8)).convert("P").save(
        folder / "palette.png"
    )
    return folder


def _check_result(out_dir, name, image_path):
    record = json.loads((out_dir / f"{name}.json").read_text())
    assert (out_dir / f"{name}.png").stat().st_size > 1000
    assert record["joint_names"] == list(skeleton.JOINT_NAMES)
    assert record["num_people"] == 1 and record["detection"]["method"] == "none"
    person = record["people"][0]
    assert person["index"] == 0 and person["box_xywh"] is None
    assert person["detector_score"] is None
    joints_2d = np.array(person["joints_2d"])
    joints_3d = np.array(person["joints_3d_mm"])
    assert joints_2d.shape == (16, 2) and joints_3d.shape == (16, 3)
    assert len(person["confidence"]) == 16
    assert np.all(np.isfinite(joints_2d)) and np.all(np.isfinite(joints_3d))
    np.testing.assert_allclose(joints_3d[skeleton.EVAL_ROOT], 0.0, atol=1e-6)
    assert skeleton.bone_lengths(joints_3d).sum() == pytest.approx(
        skeleton.MEAN_SKELETON_BONE_SUM_MM, rel=1e-4
    )
    width, height = record["image_size"]
    with Image.open(image_path) as img:
        assert img.size == (width, height)
    crop = person["crop"]
    assert crop["source"] == "centred"
    x, y, w, h = crop["box_xywh"]
    assert np.all((joints_2d >= [x, y]) & (joints_2d <= [x + w, y + h]))
    if width == height:  # the centred crop is the image itself
        assert np.all((joints_2d >= 0) & (joints_2d <= width))
    return record


def test_cli_on_real_and_generated_images(tiny_checkpoint, shared_data, tmp_path, capsys):
    generated = _write_generated_images(tmp_path / "generated")
    real = sorted((shared_data / "images").glob("*.png"))[:3]
    out = tmp_path / "out"
    argv = [str(generated), *map(str, real), "--checkpoint", str(tiny_checkpoint)]
    assert infer.main([*argv, "--out", str(out), "--batch-size", "4", "--detect", "none"]) == 0
    paths = sorted(generated.iterdir()) + real
    for path in paths:
        _check_result(out, path.stem, path)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{p.stem}.{ext}" for p in paths for ext in ("json", "png")
    )  # nothing else, in particular no temporary files
    assert f"wrote {len(paths)} of {len(paths)}" in capsys.readouterr().err


def test_cli_bad_inputs_are_reported_and_skipped(tiny_checkpoint, tmp_path, capsys):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.full((20, 20, 3), 128, np.uint8))
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "text.jpg").write_text("not an image")
    ok, jpeg = cv2.imencode(
        ".jpg", np.random.default_rng(1).integers(0, 255, (30, 30, 3), np.uint8)
    )
    assert ok
    (tmp_path / "cut.jpg").write_bytes(jpeg.tobytes()[: len(jpeg) // 2])
    empty_dir = tmp_path / "empty_dir"
    empty_dir.mkdir()
    out = tmp_path / "out"
    bad = ["missing.png", "text.jpg", "cut.jpg", "big.png", "empty_dir"]
    argv = [str(tmp_path / n) for n in ["good.png", *bad]]
    code = infer.main([*argv, "--checkpoint", str(tiny_checkpoint), "--out", str(out)] + [
        "--max-pixels", "1000", "--detect", "none"
    ])  # fmt: skip
    assert code != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == len(bad)
    expected = ["does not exist", "is not an image", "truncated", "more than the limit", "no image"]
    for name, phrase in zip(bad, expected, strict=True):
        assert any(name in line and phrase in line for line in lines), (name, lines)
    assert sorted(p.name for p in out.iterdir()) == ["good.json", "good.png"]


@pytest.mark.parametrize("case", ["missing", "default_absent", "incompatible"])
def test_cli_checkpoint_problems(case, tiny_checkpoint, tmp_path, capsys, monkeypatch):
    image = tmp_path / "image.png"
    cv2.imwrite(str(image), np.zeros((20, 20, 3), np.uint8))
    argv = [str(image), "--out", str(tmp_path / "out")]
    if case == "missing":
        argv += ["--checkpoint", str(tmp_path / "nowhere")]
        phrase = "does not exist"
    elif case == "default_absent":
        monkeypatch.setenv(checkpoint.DEFAULT_CHECKPOINT_ENV, str(tmp_path / "no_default"))
        phrase = "make demo"
    else:
        variables, meta, _ = checkpoint.load_variables(tiny_checkpoint)
        meta = {**meta, "model": {**meta["model"], "num_features": 32}}
        checkpoint.write_inference_checkpoint(tmp_path / "wrong", variables, meta)
        argv += ["--checkpoint", str(tmp_path / "wrong")]
        phrase = "does not fit"
    assert infer.main(argv) != 0
    err = capsys.readouterr().err
    assert phrase in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_detect_falls_back_or_uses_the_detection(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    image = tmp_path / "person.png"
    cv2.imwrite(str(image), np.full((300, 200, 3), 90, np.uint8))
    out = tmp_path / "out"
    monkeypatch.setattr(crops, "detect_person", lambda image: None)
    argv = [str(image), "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--detect", "hog"]
    assert infer.main(argv) == 0
    crop = json.loads((out / "person.json").read_text())["people"][0]["crop"]
    assert crop["source"] == "centred" and "centred crop" in crop["note"]
    assert "the HOG detector found no person; used the centred crop" in capsys.readouterr().err
    monkeypatch.setattr(crops, "hog_available", lambda: True)
    monkeypatch.setattr(crops, "detect_person", lambda image: np.array([50, 60, 40, 100]))
    assert infer.main(argv) == 0
    crop = json.loads((out / "person.json").read_text())["people"][0]["crop"]
    assert crop["source"] == "hog"
    assert crop["center"] == [70.0, 110.0]
    assert crop["scale"] == pytest.approx(100 * crops.DETECTION_MARGIN / 200)


@pytest.mark.skipif(not crops.hog_available(), reason="this OpenCV has no HOG detector")
def test_hog_detector_finds_the_sample_person_and_survives_tiny_images(shared_data):
    from pose3d_jax.inference import image_io

    image = image_io.load_image(shared_data / "images" / "h36m_1214.png")
    box = crops.detect_person(image)
    assert box is not None and box[2] > 50 and box[3] > 100
    assert crops.detect_person(np.zeros((17, 17, 3), np.uint8)) is None  # no crash


def test_predictor_api(tiny_checkpoint, tmp_path):
    from pose3d_jax import Predictor  # the lazy export

    runner = Predictor.from_checkpoint(tiny_checkpoint, batch_size=2)
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)
    result = runner(image)
    assert result.joint_names == skeleton.JOINT_NAMES
    assert result.joints_2d.shape == (16, 2) and result.joints_3d_mm.shape == (16, 3)
    assert result.confidence.shape == (16,)
    boxed = runner(image, bbox=[10, 10, 20, 40])
    assert boxed.crop.source == "bbox" and boxed.crop.center == (20.0, 30.0)
    path = tmp_path / "image.png"
    cv2.imwrite(str(path), image[:, :, ::-1])
    batch = runner.predict_batch([image, str(path), image[:, :, 0]])
    assert len(batch) == 3
    np.testing.assert_allclose(batch[0].joints_2d, result.joints_2d, atol=1e-4)
    np.testing.assert_allclose(batch[1].joints_2d, result.joints_2d, atol=1e-4)
    json.dumps(batch[2].to_dict())


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "result.json"

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError):
        fileio.write_json_atomic(target, {"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_module_entry_point_and_light_package_import(tiny_checkpoint, shared_data, tmp_path):
    light = subprocess.run(
        [sys.executable, "-c", "import sys, pose3d_jax; print('jax' in sys.modules)"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert light.stdout.strip() == "False"
    image = sorted((shared_data / "images").glob("*.png"))[0]
    proc = subprocess.run(
        [
            sys.executable, "-m", "pose3d_jax.infer", str(image),
            "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path),
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((tmp_path / f"{image.stem}.json").read_text())
    assert record["detection"]["method"] == "detector" and record["num_people"] >= 1
    assert f"{image}: " in proc.stderr and "INFO" not in proc.stderr
