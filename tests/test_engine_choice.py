"""`--backend auto` (the default): the rule before measurement, the choice tune_cpu keeps
per machine (stale when the engines change), a precision asked for, the JSON's record."""

import json

import pytest
from conftest import SHARED_DATA, schema_validator

from pose3d_jax import infer, tune_cpu
from pose3d_jax.inference import engine_choice, engines, precision
from pose3d_jax.inference.predictor import Predictor


@pytest.fixture
def choice_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(engine_choice.CHOICE_ENV, str(tmp_path / "choice"))
    return tmp_path / "choice"


def test_the_rule_picks_openvino_bf16_only_on_a_cpu_with_bf16_units():
    assert engine_choice.rule_choice(frozenset({"amx_bf16"}))["backend"] == "openvino"
    assert engine_choice.rule_choice(frozenset({"amx_bf16"}))["precision"] == "bf16"
    plain = engine_choice.rule_choice(frozenset({"avx2"}))
    assert (plain["backend"], plain["precision"]) == ("onnxruntime", "fp32")


def test_a_kept_choice_is_read_and_goes_stale_with_the_engines(choice_dir):
    path = engine_choice.write_choice({"backend": "openvino", "precision": "fp32",
                                       "source": "tune_cpu", "reason": "measured"})  # fmt: skip
    assert path.parent == choice_dir and engine_choice.read_choice()["precision"] == "fp32"
    backend, chosen, how = engines.resolve("auto")
    assert (backend, chosen, how["source"]) == ("openvino", "fp32", "tune_cpu")
    assert engines.resolve("auto", "int8")[:2] == ("openvino", "int8")  # asked for: kept
    kept = json.loads(path.read_text())
    kept["versions"]["openvino"] = "0.0"  # another OpenVINO than the one measured
    path.write_text(json.dumps(kept))
    assert engine_choice.read_choice() is None
    assert engines.resolve("auto")[2]["source"] == "rule"


def test_the_default_is_auto_without_the_suites_pin(monkeypatch):
    monkeypatch.delenv(engines.BACKEND_ENV)
    assert engines.default_backend() == "auto"
    with pytest.raises(
        engines.BackendError, match="choose one of xla, onnxruntime, openvino, auto"
    ):
        engines.check_backend("tensorrt")


def test_auto_in_the_predictor_and_the_json(tiny_checkpoint, tmp_path, choice_dir):
    import cv2
    import numpy as np

    runner = Predictor.from_checkpoint(tiny_checkpoint, backend="auto", warn=False)
    rule = engine_choice.rule_choice()
    assert runner.engine.name == rule["backend"]
    assert runner.about()["backend_choice"]["source"] == "rule"
    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), np.random.default_rng(1).integers(0, 255, (96, 128, 3), np.uint8))
    argv = [str(image), "--checkpoint", str(tiny_checkpoint), "--detect", "none"]
    assert infer.main([*argv, "--out", str(tmp_path / "out"), "--backend", "auto"]) == 0
    record = json.loads((tmp_path / "out" / "photo.json").read_text())
    schema_validator("image.schema.json").validate(record)
    assert record["backend"] == rule["backend"]
    assert record["precision"]["precision"] == rule["precision"]
    assert record["backend_choice"]["requested"] == "auto"


@pytest.mark.skipif(not (SHARED_DATA / "images").is_dir(), reason="../shared/data is absent")
def test_tune_cpu_keeps_the_fastest_guarded_choice(tiny_checkpoint, tmp_path, choice_dir, capsys):
    argv = ["--checkpoint", str(tiny_checkpoint), "--frames", str(SHARED_DATA / "images"),
            "--demo-checkpoint", str(tmp_path / "no_demo"), "--rounds", "1"]  # fmt: skip
    assert tune_cpu.main(argv) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"onnxruntime_fp32", "openvino_fp32"} <= set(line["images_per_s"])
    if precision.bf16_supported():
        # an untrained network's flat heatmaps guard nothing, and there is no demo: not chosen
        verdict = line["verdicts"]["bf16"]
        assert verdict["passed"] is False and "nothing guards it" in verdict["reasons"][0]
        assert verdict["measured"]["frames"]["applicable"] is False
    assert line["precision"] == "fp32"
    fastest = max(("onnxruntime_fp32", "openvino_fp32"), key=lambda k: line["images_per_s"][k]["8"])
    assert f"{line['backend']}_{line['precision']}" == fastest
    kept = engine_choice.read_choice()
    assert kept["backend"] == line["backend"] and kept["source"] == "tune_cpu"
    assert engines.resolve("auto")[:2] == (line["backend"], "fp32")
