"""Shared test setup: four virtual CPU devices (so multi-device code is tested
on one machine), the path of the real data beside the repository, tiny models."""

import os
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# ONNX exports of test checkpoints (the onnxruntime backend's cache) stay out of ~/.cache.
os.environ.setdefault("POSE3D_JAX_EXPORT_CACHE", tempfile.mkdtemp(prefix="pose3d_exports_"))
os.environ.setdefault("POSE3D_JAX_COMPILATION_CACHE", tempfile.mkdtemp(prefix="pose3d_jit_"))
# The suite pins the CPU engine to fp32 ONNX Runtime, so numbers compared across
# backends do not depend on this CPU's bf16 units; tests of `auto` (the default) ask for
# it by name or remove the variable. A choice kept by tune_cpu in ~/.cache is not read.
os.environ.setdefault("POSE3D_JAX_BACKEND", "onnxruntime")
os.environ.setdefault("POSE3D_JAX_ENGINE_CHOICE", tempfile.mkdtemp(prefix="pose3d_choice_"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

TINY_MODEL = {
    "num_stacks": 2,
    "num_modules": 1,
    "num_features": 16,
    "num_reg_modules": 1,
    "num_joints": 16,
    "hourglass_depth": 2,
    "dtype": "float32",
}


@pytest.fixture(scope="session", autouse=True)
def persistent_compilation_cache():
    """JAX's disk cache of compiled programs, shared by the suite's workers.

    Training tests build the same step again in new jitted closures (an
    uninterrupted run and a resumed one, three stages), which JAX's in-memory
    cache misses; the disk cache is keyed on the program, so the first compile
    serves the rest, within a process and across workers.
    """
    from pose3d_jax.runtime import compile_cache

    compile_cache.enable()


@pytest.fixture(autouse=True)
def full_float32_matmuls_on_accelerators():
    """Full float32 matmuls and convolutions off the CPU.

    GPUs run float32 matmuls and convolutions in TF32 by default (relative error
    ~1e-3, measured on an H200: the 1x1-as-matmul test then differs from nn.Conv
    by 1.4e-3), while the tests compare formulations at float32 tolerance. The
    CPU computes in full float32 either way and is left as it is.
    """
    import jax

    if jax.default_backend() == "cpu":
        yield
        return
    with jax.default_matmul_precision("highest"):
        yield


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a clean skip when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised one-stack TINY_MODEL checkpoint (256 input), written once."""
    from pose3d_jax.model import network

    directory = tmp_path_factory.mktemp("tiny_checkpoint")
    network.write_random_checkpoint(directory, {**TINY_MODEL, "num_stacks": 1})
    return directory


@pytest.fixture(scope="session")
def detector_model() -> Path:
    """The person detector's model file (`make install` fetches it), or a clean skip."""
    from pose3d_jax.detection import model_file

    if not model_file.available():
        pytest.skip(f"no person detector file at {model_file.default_path()} ({model_file.FIX})")
    return model_file.default_path()


@pytest.fixture(scope="session")
def person_detector(detector_model):
    from pose3d_jax.detection.detector import PersonDetector

    return PersonDetector(detector_model)


@pytest.fixture(scope="session")
def real_frames():
    """{name: RGB} of the release's single-person frames in ../shared/data/images."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    from datasets import pasted_scenes

    return pasted_scenes.load_frames(SHARED_DATA / "images")


def schema_validator(name):
    """A validator of docs/schema/NAME (its references to the other schema files resolved)."""
    import json

    import jsonschema
    from referencing import Registry, Resource

    folder = REPO_ROOT / "docs" / "schema"
    schemas = {p.name: json.loads(p.read_text()) for p in folder.glob("*.schema.json")}
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    schema = schemas[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)
