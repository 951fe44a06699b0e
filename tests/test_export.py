"""Exports (ONNX, StableHLO, SavedModel, OpenVINO IR) and the ONNX Runtime backend
against XLA.

Each artifact is loaded in a fresh Python process where flax cannot be imported,
fed crops of the real frames in ../shared/data/images, and its outputs compared
with the flax network's (Predictor's XLA engine) to 1e-4.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import REPO_ROOT, TINY_MODEL

from pose3d_jax import checkpoint
from pose3d_jax import export as export_cli
from pose3d_jax.deploy import contract, export_cache, export_index, exporters
from pose3d_jax.inference import engines, image_io, xla_engine
from pose3d_jax.inference.crops import choose_crop, crop_image
from pose3d_jax.inference.predictor import Predictor
from pose3d_jax.model import hourglass, network

INPUT_RES = 128
TOLERANCE = 1e-4


def _trained_looking(variables, seed):
    """Random BatchNorm statistics, so folding them into the graph is really tested."""
    rng = np.random.default_rng(seed)

    def perturb(path, leaf):
        name = jax.tree_util.keystr(path)
        leaf = np.asarray(leaf)
        if name.endswith("['var']"):
            return rng.uniform(0.5, 2.0, leaf.shape).astype(np.float32)
        if name.endswith("['mean']") or name.endswith("['bias']"):
            return rng.normal(0.0, 0.1, leaf.shape).astype(np.float32)
        return leaf

    return jax.tree_util.tree_map_with_path(perturb, jax.device_get(variables))


def _write_checkpoint(directory, convention, seed):
    model_config = {**TINY_MODEL, "num_stacks": 2}
    variables = network.init_variables(hourglass.create_model(model_config), INPUT_RES, seed)
    meta = network.random_meta(model_config, INPUT_RES, seed)
    meta["input"] = {**convention, "res": INPUT_RES}
    meta["provenance"] = checkpoint.provenance(checkpoint.CONVERTED, note="test")
    return checkpoint.write_inference_checkpoint(directory, _trained_looking(variables, seed), meta)


@pytest.fixture(scope="module")
def rgb_checkpoint(tmp_path_factory):
    return _write_checkpoint(tmp_path_factory.mktemp("rgb"), checkpoint.INPUT_RGB_255, 1)


@pytest.fixture(scope="module")
def bgr_checkpoint(tmp_path_factory):
    return _write_checkpoint(tmp_path_factory.mktemp("bgr"), checkpoint.INPUT_BGR_256, 2)


@pytest.fixture(scope="module")
def real_crops():
    """Centred crops [N, R, R, 3] (RGB in [0, 1]) of the real frames, as Predictor makes them."""
    folder = REPO_ROOT.parent / "shared" / "data" / "images"
    if not folder.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    paths = sorted(folder.glob("*.png"))[:4]
    crops = []
    for path in paths:
        image = image_io.load_image(path)
        cropped, _ = crop_image(image, choose_crop(image), INPUT_RES)
        crops.append(cropped.astype(np.float32) / 255.0)
    return np.stack(crops)


def _xla_outputs(step_dir, crops):
    return xla_engine.XlaEngine(network.load_network(step_dir))(crops)


LOADERS = {
    "onnx": """
        import onnxruntime
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        info = json.loads(meta["pose3d_contract"])
        heatmaps, depth = session.run(["heatmaps", "depth"], {"image": crops})
    """,
    "stablehlo": """
        import jax
        exported = jax.export.deserialize(open(path, "rb").read())
        info = json.load(open(path + ".json"))
        outputs = exported.call(crops)
        heatmaps, depth = np.asarray(outputs["heatmaps"]), np.asarray(outputs["depth"])
    """,
    "savedmodel": """
        import tensorflow as tf
        loaded = tf.saved_model.load(path)
        info = json.load(open(path + "/assets.extra/pose3d_contract.json"))
        outputs = loaded.signatures["serving_default"](image=tf.constant(crops))
        heatmaps, depth = outputs["heatmaps"].numpy(), outputs["depth"].numpy()
    """,
    "openvino": """
        import openvino
        core = openvino.Core()
        model = core.read_model(path)
        info = json.loads(model.get_rt_info(["pose3d", "contract"]).astype(str))
        hint = model.get_rt_info(["runtime_options", "INFERENCE_PRECISION_HINT"]).astype(str)
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
        assert compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "f32"
        results = compiled({"image": crops})
        heatmaps, depth = (np.asarray(results[compiled.output(n)]) for n in ("heatmaps", "depth"))
    """,
}
SUFFIXES = {
    "onnx": ".onnx",
    "stablehlo": ".stablehlo",
    "savedmodel": ".savedmodel",
    "openvino": ".xml",
}


def _run_without_flax(fmt, path, crops_path, out_path):
    script = (
        textwrap.dedent(
            """
        import json, sys
        sys.modules["flax"] = None  # any import of flax now fails
        import numpy as np
        path, crops = sys.argv[1], np.load(sys.argv[2])
        """
        )
        + textwrap.dedent(LOADERS[fmt])
        + textwrap.dedent(
            """
        assert "flax" not in [m.split(".")[0] for m in sys.modules if sys.modules[m]]
        np.savez(sys.argv[3], heatmaps=heatmaps, depth=depth)
        print(json.dumps(info))
        """
        )
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), str(crops_path), str(out_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fmt", exporters.FORMATS)
def test_export_loads_without_flax_and_matches_xla(fmt, rgb_checkpoint, real_crops, tmp_path):
    out = tmp_path / f"model{SUFFIXES[fmt]}"
    code = export_cli.main(
        ["--checkpoint", str(rgb_checkpoint), "--format", fmt, "--out", str(out)]
    )
    assert code == 0
    crops_path = tmp_path / "crops.npy"
    np.save(crops_path, real_crops)
    info = _run_without_flax(fmt, out, crops_path, tmp_path / "outputs.npz")
    got = np.load(tmp_path / "outputs.npz")
    want = _xla_outputs(rgb_checkpoint, real_crops)
    assert got["heatmaps"].shape == (len(real_crops), INPUT_RES // 4, INPUT_RES // 4, 16)
    np.testing.assert_allclose(got["heatmaps"], want["heatmaps"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(got["depth"], want["depth"], atol=TOLERANCE, rtol=0)
    assert info["contract_version"] == contract.CONTRACT_VERSION
    assert info["format"] == fmt
    assert info["input"]["shape"] == ["batch", INPUT_RES, INPUT_RES, 3]
    assert info["joint_names"][0] == "right_ankle" and len(info["joint_names"]) == 16
    assert info["provenance"]["kind"] == checkpoint.CONVERTED
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_onnx_fixed_batch_and_bgr_convention(bgr_checkpoint, real_crops, tmp_path):
    """A BGR/256 checkpoint (the authors' PyTorch port) takes the same RGB [0, 1] input."""
    import onnxruntime

    out = tmp_path / "fixed.onnx"
    exporters.export(network.load_network(bgr_checkpoint), "onnx", out, batch=2)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [2, INPUT_RES, INPUT_RES, 3]
    heatmaps, depth = session.run(["heatmaps", "depth"], {"image": real_crops[:2]})
    want = _xla_outputs(bgr_checkpoint, real_crops[:2])
    np.testing.assert_allclose(heatmaps, want["heatmaps"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(depth, want["depth"], atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("flip", [False, True])
def test_onnxruntime_backend_gives_predictor_outputs(
    flip, bgr_checkpoint, shared_data, tmp_path, monkeypatch
):
    monkeypatch.setenv(export_index.CACHE_ENV, str(tmp_path / "cache"))
    frames = sorted((shared_data / "images").glob("*.png"))[:3]
    loaded = network.load_network(bgr_checkpoint)
    results = {
        backend: Predictor(loaded, backend=backend, flip=flip).predict_batch(frames)
        for backend in engines.BACKENDS
    }
    for xla, ort in zip(results["xla"], results["onnxruntime"], strict=True):
        np.testing.assert_allclose(ort.joints_2d, xla.joints_2d, atol=TOLERANCE)
        np.testing.assert_allclose(ort.confidence, xla.confidence, atol=TOLERANCE)
        np.testing.assert_allclose(ort.joints_3d_mm, xla.joints_3d_mm, atol=1e-3)


def test_export_cache_exports_once(rgb_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv(export_index.CACHE_ENV, str(tmp_path))
    loaded = network.load_network(rgb_checkpoint)
    first = export_cache.cached_onnx(loaded)
    calls = []
    monkeypatch.setattr(exporters, "onnx_bytes", lambda *a, **k: calls.append(a) or b"")
    again = export_cache.cached_onnx(network.load_network(rgb_checkpoint))
    assert again == first and calls == []
    other = network.load_network(_write_checkpoint(tmp_path / "other", checkpoint.INPUT_RGB_255, 3))
    assert export_cache.network_key(other) != export_cache.network_key(loaded)


def test_unknown_backend_is_named(rgb_checkpoint):
    with pytest.raises(engines.BackendError, match="unknown backend 'tensorrt'"):
        Predictor.from_checkpoint(rgb_checkpoint, backend="tensorrt")


def test_export_errors_leave_nothing(rgb_checkpoint, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    out = tmp_path / "out" / "model.onnx"
    assert export_cli.main(["--checkpoint", str(missing), "--format", "onnx", "--out", str(out)])
    assert "error:" in capsys.readouterr().err and not out.exists()

    code = export_cli.main(
        ["--checkpoint", str(rgb_checkpoint), "--format", "tflite", "--out", str(out)]
    )
    assert code == 2
    assert "unknown format 'tflite'" in capsys.readouterr().err and not out.exists()

    folder = tmp_path / "folder"
    folder.mkdir()
    code = export_cli.main(
        ["--checkpoint", str(rgb_checkpoint), "--format", "onnx", "--out", str(folder)]
    )
    assert code == 1 and "writes a file" in capsys.readouterr().err
    assert list(folder.iterdir()) == []
    folder.rmdir()

    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    target = a_file / "model.onnx"  # a folder that cannot exist, even for root
    code = export_cli.main(
        ["--checkpoint", str(rgb_checkpoint), "--format", "onnx", "--out", str(target)]
    )
    err = capsys.readouterr().err
    assert code == 1 and f"cannot write to '{target}'" in err and "writable folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_failed_savedmodel_export_leaves_no_folder(rgb_checkpoint, tmp_path, monkeypatch):
    """A failure half-way (here: inside the SavedModel writer) removes the temporary folder."""

    def broken(network, batch, directory):
        (Path(directory) / "saved_model.pb").write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(exporters, "_save_savedmodel", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        exporters.export(network.load_network(rgb_checkpoint), "savedmodel", tmp_path / "sm")
    assert list(tmp_path.iterdir()) == []


def test_onnxruntime_parts_equal_one_session(rgb_checkpoint, real_crops, tmp_path):
    from pose3d_jax.inference import onnx_engine
    from pose3d_jax.inference.onnx_engine import OnnxRuntimeEngine

    loaded = network.load_network(rgb_checkpoint)
    engine = OnnxRuntimeEngine.for_network(loaded, threads=2, cache_directory=tmp_path)
    crops = np.ascontiguousarray(real_crops[:3])  # parts of 2 and 1 crops
    assert engine.parts == 2 and engine._part_sessions is None
    engine.run(crops)
    assert engine._part_sessions is None  # the first crops: one session, no parts to make
    engine.crops_run = onnx_engine.PARTS_AFTER_CROPS
    split = engine.run(crops)
    assert engine._part_sessions is not None  # then a large batch takes the parts path
    whole = engine.session.run(["heatmaps", "depth"], {"image": crops})
    for got, want in zip(split, whole, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    single = engine.run(crops[:1])  # below `parts`: one session
    np.testing.assert_allclose(single[0], whole[0][:1], atol=1e-6, rtol=0)
