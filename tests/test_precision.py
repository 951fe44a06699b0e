"""The CPU path's precision: the choice and its fallback, OpenVINO's fp32, bf16 and int8
engines on a tiny network, the JSON's record, and one sentence for each bad request."""

import json

import numpy as np
import pytest
from conftest import SHARED_DATA, schema_validator

from pose3d_jax import export as export_cli
from pose3d_jax import infer
from pose3d_jax.deploy import openvino_ir
from pose3d_jax.inference import engines, onnx_engine, openvino_engine, precision
from pose3d_jax.inference.predictor import Predictor

REAL_FRAMES = SHARED_DATA / "images"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n\n")
    flags = precision.cpu_flags(cpuinfo)
    assert {"amx_bf16", "avx512f"} <= flags and precision.bf16_supported(flags)
    assert not precision.bf16_supported(frozenset({"avx512f", "avx2"}))
    assert precision.cpu_flags(tmp_path / "absent") == frozenset()


def test_bf16_falls_back_to_fp32_with_a_note_on_a_cpu_without_it():
    without = precision.choose("bf16", "openvino", flags=frozenset({"avx2", "fma"}))
    assert without.precision == "fp32" and without.requested == "bf16"
    assert "no bf16 instructions" in without.note and "running fp32" in without.note
    with_amx = precision.choose("bf16", "openvino", flags=frozenset({"amx_bf16"}))
    assert with_amx == precision.Choice("bf16", "bf16", None)
    assert precision.choose(None, "onnxruntime").precision == "fp32"


@pytest.mark.parametrize(
    "requested, backend, calibration, message",
    [
        ("fp16", "openvino", None, "unknown precision 'fp16'; choose one of fp32, bf16, int8."),
        ("bf16", "onnxruntime", None, "runs on the openvino backend, not onnxruntime"),
        ("int8", "openvino", None, "needs a calibration set"),
    ],
)
def test_bad_precision_requests_are_one_sentence(requested, backend, calibration, message):
    with pytest.raises(precision.PrecisionError) as error:
        precision.choose(requested, backend, calibration=calibration)
    assert message in str(error.value) and str(error.value).count(". ") == 0


@pytest.fixture(scope="module")
def tiny_export(tiny_checkpoint, tmp_path_factory):
    from pose3d_jax.model import network

    directory = tmp_path_factory.mktemp("exports")
    loaded = network.load_network(tiny_checkpoint)
    return onnx_engine.OnnxRuntimeEngine.for_network(loaded, cache_directory=directory)


def _crops(n, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 256, 256, 3)).astype(np.float32)


def test_openvino_fp32_is_onnxruntime_and_bf16_is_close(tiny_export):
    crops = _crops(3)
    reference = tiny_export(crops)
    fp32 = openvino_engine.OpenVinoEngine(tiny_export.model_path, precision="fp32")(crops)
    for key in ("heatmaps", "depth"):
        np.testing.assert_allclose(fp32[key], reference[key], atol=1e-4)
    if not precision.bf16_supported():
        pytest.skip("this CPU has no bf16 instructions")
    bf16 = openvino_engine.OpenVinoEngine(tiny_export.model_path, precision="bf16")(crops)
    gap = np.abs(bf16["heatmaps"] - reference["heatmaps"]).max()
    scale = np.abs(reference["heatmaps"]).max()
    assert 0 < gap < 0.1 * scale  # bf16 really ran (not fp32), and stays near it


def test_openvino_parts_give_the_single_requests_outputs(tiny_export):
    """A large batch, once enough crops ran, goes as concurrent parts: same numbers."""
    crops = _crops(5, seed=1)
    engine = openvino_engine.OpenVinoEngine(tiny_export.model_path, precision="fp32", threads=2)
    whole = engine(crops)
    assert engine._part_requests is None  # the first crops: one request
    engine.crops_run = onnx_engine.PARTS_AFTER_CROPS
    parts = engine(crops)
    assert engine._part_requests is not None and len(engine._part_requests) == 2
    for key in ("heatmaps", "depth"):
        assert parts[key].shape == whole[key].shape
        np.testing.assert_allclose(parts[key], whole[key], atol=1e-5)


@pytest.mark.skipif(not REAL_FRAMES.is_dir(), reason="../shared/data/images is absent")
def test_int8_is_calibrated_on_real_frames_kept_and_runs(tiny_export, tmp_path):
    from pose3d_jax.inference import calibration

    crops = calibration.calibration_crops(REAL_FRAMES, 256)
    assert crops.shape == (12, 256, 256, 3) and crops.dtype == np.float32 and crops.max() <= 1
    engine = openvino_engine.OpenVinoEngine(
        tiny_export.model_path, precision="int8", calibration_crops=crops
    )
    outputs = engine(_crops(2, seed=4))
    assert outputs["heatmaps"].shape == (2, 64, 64, 16) and outputs["depth"].shape == (2, 16)
    kept = sorted(tiny_export.model_path.parent.glob("*_int8_*.xml"))
    assert len(kept) == 1 and kept[0].with_suffix(".bin").stat().st_size > 0
    assert engine.overflow_fix == precision.overflow_fix()  # this CPU's
    method = openvino_ir.quantization_method(engine.overflow_fix)
    assert f"_int8_{method}_" in kept[0].name  # a new method: new file
    assert not [p for p in tiny_export.model_path.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("flags", "fix"),
    [
        ({"avx2", "fma"}, "enable"),  # our AMD EPYC: no VNNI
        ({"avx2", "avx512f", "avx512_vnni"}, "first_layer_only"),
        ({"avx2", "avx_vnni"}, "first_layer_only"),
        ({"avx2", "amx_int8", "amx_tile"}, "first_layer_only"),
    ],
)
def test_overflow_fix_follows_the_cpus_vnni(flags, fix):
    assert precision.overflow_fix(frozenset(flags)) == fix
    assert precision.vnni_supported(frozenset(flags)) == (fix == "first_layer_only")


def _int8_weight_ranges(model):
    """(min, max) of each int8 weight constant NNCF wrote (Constant -> Convert -> Multiply)."""
    import openvino

    return [
        (int(op.get_data().min()), int(op.get_data().max()))
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Constant" and op.get_output_element_type(0) == openvino.Type.i8
    ]


def test_overflow_fix_enable_writes_7_bit_weights_in_every_layer(tiny_export):
    """Without VNNI, pairs of u8 x s8 products are summed in saturating 16 bits: 7-bit
    weights ([-64, 64]) keep every sum in range; the default fix does it in the first
    layer only, the rest use the full [-127, 127]."""
    import openvino

    crops = _crops(16, seed=3)
    ranges = {}
    for fix in ("enable", "first_layer_only"):
        model = openvino.Core().read_model(str(tiny_export.model_path))
        ranges[fix] = _int8_weight_ranges(openvino_ir.quantize(model, crops, fix))
    assert len(ranges["enable"]) == len(ranges["first_layer_only"]) > 3
    assert all(-64 <= low and high <= 64 for low, high in ranges["enable"])
    first, *rest = ranges["first_layer_only"]
    assert -64 <= first[0] and first[1] <= 64
    assert max(high for _, high in rest) == 127 and min(low for low, _ in rest) == -127


def test_int8_activation_ranges_ignore_an_outlier_frame(tiny_export):
    """Mean quantiles, not min-max: one calibration crop of value 40 among fifteen in
    [0, 1] must not stretch the image's range to 40 (min-max would; it cost the demo
    model 5.3% MPJPE when real photos sat among its synthetic frames)."""
    import openvino

    crops = _crops(16, seed=7)
    crops[3] = 40.0
    model = openvino_ir.quantize(openvino.Core().read_model(str(tiny_export.model_path)), crops)
    activation_highs = [
        float(np.max(op.input_value(2).get_node().get_data()))
        for op in model.get_ordered_ops()
        if op.get_type_name() == "FakeQuantize"
        and op.input_value(0).get_node().get_type_name() != "Constant"
    ]
    image_high = activation_highs[0]  # the first: the image, before the stem convolution
    assert 1.0 <= image_high <= 40.0 / 16 + 1.0, activation_highs


def test_too_few_calibration_frames_is_one_sentence(tmp_path):
    import cv2

    from pose3d_jax.inference import calibration

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(precision.PrecisionError, match="has 3 images; give a folder of at"):
        calibration.calibration_crops(tmp_path, 256)


def test_predictor_reports_the_precision_that_ran(tiny_checkpoint, monkeypatch, tmp_path):
    monkeypatch.setenv("POSE3D_JAX_EXPORT_CACHE", str(tmp_path))
    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo=None: frozenset({"avx2"}))
    with pytest.warns(UserWarning, match="no bf16 instructions"):
        runner = Predictor.from_checkpoint(
            tiny_checkpoint, backend="openvino", precision="bf16", warn=True
        )
    about = runner.about()
    assert about["backend"] == "openvino" and about["precision"]["precision"] == "fp32"
    assert about["precision"]["requested"] == "bf16"
    assert runner.engine.precision == "fp32"


def test_cli_records_precision_and_refuses_bf16_off_openvino(tiny_checkpoint, tmp_path, capsys):
    import cv2

    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), np.random.default_rng(1).integers(0, 255, (96, 128, 3), np.uint8))
    out = tmp_path / "out"
    argv = [str(image), "--checkpoint", str(tiny_checkpoint), "--detect", "none"]
    argv += ["--out", str(out)]
    assert infer.main([*argv, "--backend", "onnxruntime", "--precision", "bf16"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "runs on the openvino backend" in err
    assert not out.exists()
    assert infer.main([*argv, "--backend", "openvino", "--precision", "bf16"]) == 0
    record = json.loads((out / "photo.json").read_text())
    schema_validator("image.schema.json").validate(record)
    want = "bf16" if precision.bf16_supported() else "fp32"
    assert record["backend"] == "openvino" and record["precision"]["precision"] == want


def test_openvino_backend_is_named_in_the_backends():
    assert "openvino" in engines.BACKENDS
    assert engines.check_backend("openvino") == "openvino"


def test_guard_arithmetic_by_hand():
    from pose3d_jax.evaluation import precision_guard as guard

    reference = np.zeros((2, 8, 8, 3))
    reference[0, 2, 3, 0] = reference[0, 5, 5, 1] = reference[0, 7, 0, 2] = 1.0
    reference[1, 1, 1, :] = 1.0
    candidate = reference.copy()
    candidate[0, 5, 5, 1], candidate[0, 6, 6, 1] = 0.0, 1.0  # diagonal: 1.41 px, moved
    candidate[1, 1, 1, 2], candidate[1, 1, 2, 2] = 0.0, 1.0  # one pixel: not moved
    assert guard.heatmap_peaks(reference)[0].tolist() == [[3, 2], [5, 5], [0, 7]]
    assert guard.moved_share(reference, candidate) == pytest.approx(1 / 6)
    frames = guard.frames_moved(reference, candidate)  # every map here is one sharp peak
    assert frames["applicable"] and frames["peaked_share"] == 1.0
    assert frames["moved_share"] == frames["moved_share_all_joints"] == pytest.approx(1 / 6)
    fp32 = {"mpjpe_mm": 100.0, "pckh": 80.0}
    applicable = {"applicable": True}
    near = guard.judge("bf16", reference_metrics=fp32,
                       candidate_metrics={"mpjpe_mm": 100.9, "pckh": 79.6},
                       frames={**applicable, "moved_share": 0.01})  # fmt: skip
    assert near.passed and near.reasons == ()
    far = guard.judge("int8", reference_metrics=fp32,
                      candidate_metrics={"mpjpe_mm": 101.2, "pckh": 79.4},
                      frames={**applicable, "moved_share": 0.02})  # fmt: skip
    assert not far.passed and len(far.reasons) == 3
    assert "MPJPE 101.20 mm against fp32's 100.00" in far.reasons[0]
    assert "PCKh 79.40" in far.reasons[1] and "2.0% of the joints" in far.reasons[2]
    flat = {"applicable": False, "moved_share": 0.3}  # untrained maps: decides nothing
    assert guard.judge("bf16", reference_metrics=fp32, candidate_metrics=fp32,
                       frames=flat).passed  # fmt: skip
    with pytest.raises(ValueError, match="has neither"):
        guard.judge("bf16", frames=flat)


def test_peak_margins_by_hand():
    from pose3d_jax.evaluation import precision_guard as guard

    heatmaps = np.zeros((1, 6, 6, 2))
    heatmaps[0, 2, 2, 0], heatmaps[0, 2, 3, 0], heatmaps[0, 5, 5, 0] = 1.0, 0.9, 0.25
    heatmaps[0, 1, 1, 1], heatmaps[0, 4, 4, 1] = 0.8, 0.79
    margins = guard.peak_margins(heatmaps)
    # joint 0: the 0.9 beside the peak is ignored, 0.25 is the runner-up; joint 1: flat
    assert margins[0].tolist() == pytest.approx([0.75, 0.0125])


def _openvino_outputs(xml, crops):
    """The IR compiled as its contract says: with the precision hint the file holds."""
    import openvino

    from pose3d_jax.deploy import openvino_ir

    core = openvino.Core()
    model = core.read_model(str(xml))
    compiled = core.compile_model(model, "CPU", openvino_ir.compile_config(model))
    results = compiled({"image": crops})
    outputs = {n: np.asarray(results[compiled.output(n)]) for n in ("heatmaps", "depth")}
    return outputs, compiled.get_property("INFERENCE_PRECISION_HINT").to_string()


@pytest.mark.skipif(not REAL_FRAMES.is_dir(), reason="../shared/data/images is absent")
@pytest.mark.skipif(not REAL_FRAMES.is_dir(), reason="../shared/data/images is absent")
def test_export_openvino_ir_at_bf16_and_int8(tiny_checkpoint, tiny_export, tmp_path):
    from pose3d_jax.inference import calibration

    # frames like the calibration set's: int8's ranges are fitted to them (noise crops
    # reach beyond its quantile ranges)
    crops = calibration.calibration_crops(REAL_FRAMES, 256)[[0, 5, 9]]
    reference = tiny_export(crops)
    written = {}
    for name, extra in [("bf16", []), ("int8", ["--calibration", str(REAL_FRAMES)])]:
        out = tmp_path / f"hg_{name}.xml"
        args = ["--checkpoint", str(tiny_checkpoint), "--format", "openvino", "--out", str(out)]
        assert export_cli.main([*args, "--precision", name, *extra]) == 0
        assert out.with_suffix(".bin").stat().st_size > 0
        written[name] = out
    import openvino

    for name, out in written.items():
        model = openvino.Core().read_model(str(out))
        info = json.loads(model.get_rt_info(["pose3d", "contract"]).astype(str))
        assert info["format"] == "openvino" and info["openvino"]["precision"] == name
        if name == "int8":  # 7-bit weights by default: accurate on CPUs without VNNI too
            assert info["openvino"]["int8_method"] == "mean-quantile-w7"
            assert all(-64 <= low and high <= 64 for low, high in _int8_weight_ranges(model))
        quantizers = [op for op in model.get_ops() if op.get_type_name() == "FakeQuantize"]
        assert (len(quantizers) > 0) == (name == "int8"), name
        outputs, hint = _openvino_outputs(out, crops)
        assert hint == ("bf16" if name == "bf16" and precision.bf16_supported() else "f32")
        gap = np.abs(outputs["heatmaps"] - reference["heatmaps"]).max()
        mean_gap = np.abs(outputs["heatmaps"] - reference["heatmaps"]).mean()
        # near fp32's maps on average (int8's quantile ranges clip this random net's rare
        # extremes: its largest gap is ~0.47 of the maps' scale, its mean ~0.15)
        assert mean_gap < 0.2 * np.abs(reference["heatmaps"]).mean(), name
        if hint == "bf16" or name == "int8":
            assert gap > 0, name  # and not fp32 itself
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "onnx", "--precision", "bf16"], "use --format openvino"),
        (["--format", "openvino", "--precision", "fp16"], "unknown precision 'fp16'"),
        (["--format", "openvino", "--precision", "int8"], "give --calibration DIR"),
        (["--format", "openvino", "--precision", "int8", "--calibration", "/no/such"],
         "'/no/such' is not a folder"),
        (["--format", "openvino", "--precision", "int8", "--calibration", "/no/such",
          "--overflow-fix", "off"],
         "unknown int8 overflow fix 'off'; choose one of enable, first_layer_only."),
    ],
)  # fmt: skip
def test_export_precision_errors_are_one_sentence(tiny_checkpoint, tmp_path, capsys, args, message):
    out = tmp_path / "model.xml"
    code = export_cli.main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_export_openvino_needs_an_xml_name(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    args = ["--checkpoint", str(tiny_checkpoint), "--format", "openvino", "--out", str(out)]
    assert export_cli.main(args) == 1
    assert "give --out " in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_demo_is_calibrated_on_its_training_subject_only(tmp_path):
    from pose3d_jax.evaluation import precision_guard

    images = tmp_path / "raw" / "h36m" / "images"
    for subject in (1, 9, 11):
        folder = images / f"s_{subject:02d}_act_02_subact_01_ca_01"
        folder.mkdir(parents=True)
        for i in range(10):
            (folder / f"{i:04d}.jpg").write_bytes(b"")
    frames = precision_guard.demo_calibration_frames(tmp_path, limit=4)
    assert len(frames) == 4 and all(f.parent.name.startswith("s_01_") for f in frames)
    assert [f.name for f in frames] == ["0000.jpg", "0002.jpg", "0004.jpg", "0006.jpg"]
    assert len(precision_guard.demo_calibration_frames(tmp_path)) == 10
