"""Tiny synthetic raw data and its shards, made once per test session.

Imported by tests/test_synthetic.py and tests/test_builders.py. The cache is a
module global (not a session fixture defined twice), so the data is generated
and built once even when both modules import these fixtures.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

TINY = {"num_h36m": 60, "num_mpii": 30, "num_3dhp": 24, "seed": 7}
NAMES = ("h36m", "mpii", "mpi_inf_3dhp")
_CACHE: dict = {}


def raw_root(factory) -> Path:
    """RAW with h36m/, mpii/, mpi_inf_3dhp/ of the TINY sizes."""
    if "raw" not in _CACHE:
        from datasets import synthetic

        root = factory.mktemp("raw")
        synthetic.generate(root, **TINY)
        _CACHE["raw"] = root
    return _CACHE["raw"]


def shards_root(factory) -> Path:
    """SHARDS with the three datasets built from raw_root."""
    if "shards" not in _CACHE:
        from datasets import prepare

        raw, root = raw_root(factory), factory.mktemp("shards")
        for name in NAMES:
            prepare.build(name, raw / name, root)
        _CACHE["shards"] = root
    return _CACHE["shards"]


def read_split(version_dir: Path, split: str, images: bool = True) -> list[dict]:
    """All examples of a split as NumPy dicts, read without the builder code
    (images left encoded when `images` is False)."""
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(str(version_dir))
    decoders = None if images else {"image": tfds.decode.SkipDecoding()}
    dataset = builder.as_dataset(split=split, shuffle_files=False, decoders=decoders)
    return list(tfds.as_numpy(dataset))


def copy_raw(factory, name: str, tmp_path: Path) -> Path:
    """A private copy of one tiny raw dataset, for tests that damage it."""
    target = tmp_path / "raw" / name
    shutil.copytree(raw_root(factory) / name, target)
    return target


def stack(examples: list[dict], key: str) -> np.ndarray:
    return np.stack([e[key] for e in examples])


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory) -> Path:
    return raw_root(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory) -> Path:
    return shards_root(tmp_path_factory)
