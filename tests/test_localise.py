"""Localisation by window search, crops from joints, test-time flip and provenance warnings."""

import dataclasses
import json
import warnings

import numpy as np
import pytest
from conftest import TINY_MODEL

from pose3d_jax import checkpoint, geometry, infer, skeleton
from pose3d_jax.inference import engines, localise
from pose3d_jax.inference.crops import Crop
from pose3d_jax.inference.predictor import Predictor
from pose3d_jax.model import network


def test_windows_cover_the_frame_at_every_size():
    settings = localise.SearchSettings()
    crops = localise.windows(1920, 1080, settings)
    assert len(crops) <= settings.max_windows + 1
    sides = sorted({round(c.scale * geometry.BOX_PIXELS_PER_SCALE) for c in crops})
    assert sides == sorted({round(f * 1080) for f in settings.window_fractions} | {1920})
    for fraction in settings.window_fractions:
        side = fraction * 1080
        same = [c for c in crops if abs(c.scale * 200 - side) < 1e-6]
        xs = sorted({c.center[0] for c in same})
        ys = sorted({c.center[1] for c in same})
        assert xs[0] == pytest.approx(side / 2) and xs[-1] == pytest.approx(1920 - side / 2)
        assert ys[0] == pytest.approx(side / 2) and ys[-1] == pytest.approx(1080 - side / 2)
        assert max(np.diff(xs), default=0) <= side  # no gaps between windows


def test_crop_from_joints_squares_the_confident_extent():
    joints = np.array([[100.0, 200.0], [140.0, 400.0]] + [[120.0, 300.0]] * 14)
    confidence = np.full(16, 0.8)
    confidence[2] = 0.01  # an unsure joint far away would be ignored
    joints[2] = [900.0, 900.0]
    crop = localise.crop_from_joints(joints, confidence)
    assert crop.center == pytest.approx((120.0, 300.0))
    assert crop.scale * 200 == pytest.approx(200.0 * localise.JOINTS_MARGIN)


def test_search_finds_the_box_a_scorer_likes_and_refines_it():
    """A stand-in network: confidence = the share of a hidden person box inside the crop,
    times how close the crop's side is to the training crops' (1.3 x the person)."""
    person = np.array([1300.0, 500.0, 150.0, 300.0])  # x, y, w, h in a 1920x1080 frame

    @dataclasses.dataclass
    class Pred:
        joints_2d: np.ndarray
        confidence: np.ndarray
        crop: Crop

    def predict_crops(images, crops):
        out = []
        for crop in crops:
            x, y, side, _ = crop.box()
            ix = max(0.0, min(x + side, person[0] + person[2]) - max(x, person[0]))
            iy = max(0.0, min(y + side, person[1] + person[3]) - max(y, person[1]))
            inside = ix * iy / (person[2] * person[3])
            size = np.exp(-abs(np.log(side / (localise.JOINTS_MARGIN * person[3]))))
            corners = np.array(
                [person[:2], person[:2] + person[2:]] + [person[:2] + person[2:] / 2] * 14
            )
            out.append(Pred(corners, np.full(16, inside * size), crop))
        return out

    image = np.zeros((1080, 1920, 3), np.uint8)
    found, prediction = localise.localise(predict_crops, image)
    assert found.source == "localised" and found.details["windows"] > 50
    assert found.center == pytest.approx((1375.0, 650.0), abs=1.0)
    assert found.scale * 200 == pytest.approx(300 * localise.JOINTS_MARGIN, rel=0.02)
    assert prediction.crop is found


@pytest.fixture(scope="module")
def stats_checkpoint(tmp_path_factory):
    """A 2-stack tiny model with random BatchNorm statistics (non-symmetric outputs)."""
    from pose3d_jax.model import hourglass

    config = {**TINY_MODEL, "num_stacks": 1}
    variables = network.init_variables(hourglass.create_model(config), 128, 3)
    rng = np.random.default_rng(0)
    import jax

    def perturb(path, leaf):
        name = jax.tree_util.keystr(path)
        if name.endswith("['var']"):
            return rng.uniform(0.5, 2.0, leaf.shape).astype(np.float32)
        if name.endswith("['mean']"):
            return rng.normal(0, 0.2, leaf.shape).astype(np.float32)
        return np.asarray(leaf)

    variables = jax.tree_util.tree_map_with_path(perturb, jax.device_get(variables))
    meta = network.random_meta(config, 128, 3)
    return checkpoint.write_inference_checkpoint(tmp_path_factory.mktemp("stats"), variables, meta)


@pytest.mark.parametrize("backend", engines.BACKENDS)
def test_flip_is_the_hand_computed_average(backend, stats_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("POSE3D_JAX_EXPORT_CACHE", str(tmp_path))
    loaded = network.load_network(stats_checkpoint)
    engine = engines.create(loaded, backend)
    crops = np.random.default_rng(1).uniform(0, 1, (2, 128, 128, 3)).astype(np.float32)
    plain = engine(crops)
    mirrored = engine(np.ascontiguousarray(crops[:, :, ::-1, :]))
    perm = list(skeleton.FLIP_PERMUTATION)
    by_hand_heatmaps = 0.5 * (plain["heatmaps"] + mirrored["heatmaps"][:, :, ::-1, :][..., perm])
    by_hand_depth = 0.5 * (plain["depth"] + mirrored["depth"][:, perm])
    flipped = engine(crops, flip=True)
    np.testing.assert_allclose(flipped["heatmaps"], by_hand_heatmaps, atol=1e-5)
    np.testing.assert_allclose(flipped["depth"], by_hand_depth, atol=1e-5)
    assert np.abs(flipped["heatmaps"] - plain["heatmaps"]).max() > 1e-3  # flip did something
    # the right ankle's mirror partner is the left ankle
    assert perm[skeleton.JOINT_NAMES.index("right_ankle")] == skeleton.JOINT_NAMES.index(
        "left_ankle"
    )


def _with_provenance(step_dir, tmp_path, kind):
    variables, meta, _ = checkpoint.load_variables(step_dir)
    meta = {**meta, "provenance": checkpoint.provenance(kind)}
    meta.pop("source", None)
    return checkpoint.write_inference_checkpoint(tmp_path / kind, variables, meta)


@pytest.mark.parametrize(
    "kind, warned",
    [
        (checkpoint.TRAINED_ON_SYNTHETIC, "synthetic figures"),
        (checkpoint.UNTRAINED, "UNTRAINED"),
        (checkpoint.CONVERTED, None),
    ],
)
def test_provenance_warning_in_predictor_infer_and_json(
    kind, warned, stats_checkpoint, tmp_path, capsys, shared_data
):
    step_dir = _with_provenance(stats_checkpoint, tmp_path, kind)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Predictor.from_checkpoint(step_dir, backend="xla")
    messages = [str(w.message) for w in caught if "checkpoint" in str(w.message)]
    assert (warned is None and not messages) or (len(messages) == 1 and warned in messages[0])
    image = sorted((shared_data / "images").glob("*.png"))[0]
    out = tmp_path / "out"
    argv = [str(image), "--checkpoint", str(step_dir), "--out", str(out), "--backend", "xla"]
    assert infer.main(argv) == 0
    err_lines = [line for line in capsys.readouterr().err.splitlines() if "checkpoint" in line]
    record = json.loads((out / f"{image.stem}.json").read_text())
    assert record["provenance"]["kind"] == kind
    assert record["backend"] == "xla" and record["flip"] is False
    if warned is None:
        assert err_lines == [] and record["provenance"]["warning"] is None
    else:
        assert len(err_lines) == 1 and warned in err_lines[0]
        assert warned in record["provenance"]["warning"]


def test_old_checkpoints_are_recognised_by_their_source():
    assert checkpoint.provenance_kind({"source": "random initialisation; UNTRAINED"}) == "untrained"
    converted = {"source": {"converter": "pose3d_jax.convert", "file": "x.pth"}}
    assert checkpoint.provenance_kind(converted) == checkpoint.CONVERTED
    assert checkpoint.provenance_kind({}) == checkpoint.UNKNOWN
    assert checkpoint.provenance_warning({}) is None
