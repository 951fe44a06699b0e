"""Import of the authors' PyTorch weights (SPEC 2, 8): a PyTorch reference network
written here from SPEC 2, saved the three ways such files exist, converted, and
run by our model must give PyTorch's numbers."""

import contextlib
import functools
import sys
import types
import warnings

import jax
import numpy as np
import pytest
from conftest import TINY_MODEL

from pose3d_jax import checkpoint, model
from pose3d_jax import convert as convert_cli
from pose3d_jax.weights import convert

torch = pytest.importorskip("torch")
nn = torch.nn

from benchmarks.pytorch_reference import Hourglass, HourglassNet3D, Residual  # noqa: E402

# Two modules per step so the port's flat Residual.{i*nModules+j} numbering is exercised.
CONFIG = {**TINY_MODEL, "num_modules": 2}
INPUT_SIZE = 128  # the depth head ends at 2x2, so its NCHW -> NHWC flatten order matters


def _reference_net():
    """The tiny reference network, random weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(0)
    net = HourglassNet3D(
        CONFIG["num_stacks"],
        CONFIG["num_modules"],
        CONFIG["num_features"],
        CONFIG["num_reg_modules"],
        depth=CONFIG["hourglass_depth"],
        input_size=INPUT_SIZE,
    )
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


@contextlib.contextmanager
def _authors_modules():
    """Makes the reference classes importable under the authors' paths while pickling;
    afterwards those paths are gone again, as on a user's machine."""
    contents = {
        "models": {},
        "models.hg_3d": {"Hourglass": Hourglass, "HourglassNet3D": HourglassNet3D},
        "models.layers": {},
        "models.layers.Residual": {"Residual": Residual},
    }
    saved = {name: sys.modules.get(name) for name in contents}
    for name, attrs in contents.items():
        sys.modules[name] = types.ModuleType(name)
        vars(sys.modules[name]).update(attrs)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name)
            else:
                sys.modules[name] = old


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The reference network saved three ways, and its outputs on a fixed input."""
    torch.set_num_threads(1)
    net = _reference_net()
    folder = tmp_path_factory.mktemp("torch")
    files = {
        "state_dict": folder / "state_dict.pth",
        "checkpoint": folder / "checkpoint.pth",
        "pickled": folder / "hgreg-3d.pth",
    }
    torch.save(net.state_dict(), files["state_dict"])
    torch.save({"state_dict": net.state_dict(), "epoch": 60}, files["checkpoint"])
    with _authors_modules(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch cannot find the fake modules' source
        # The 2017 release predates the zip format.
        torch.save(net, files["pickled"], _use_new_zipfile_serialization=False)
    images = np.random.default_rng(0).uniform(size=(2, 3, INPUT_SIZE, INPUT_SIZE))
    images = images.astype(np.float32)
    with torch.no_grad():
        heatmaps, depth = net(torch.from_numpy(images))
    return types.SimpleNamespace(
        net=net,
        files=files,
        images=images,
        heatmaps=np.stack([h.numpy() for h in heatmaps]),
        depth=depth.numpy(),
    )


@pytest.fixture(scope="module")
def converted(reference, tmp_path_factory):
    """Each form converted once (the plain state_dict through the command line)."""
    folder = tmp_path_factory.mktemp("converted")
    outs = {form: folder / form for form in reference.files}
    assert (
        convert_cli.main([str(reference.files["state_dict"]), "--out", str(outs["state_dict"])])
        == 0
    )
    convert.convert(reference.files["checkpoint"], outs["checkpoint"])
    convert.convert(reference.files["pickled"], outs["pickled"], trust_pickle=True)
    return outs


@pytest.fixture(scope="module")
def apply_ours():
    net = model.create_model(CONFIG)
    return jax.jit(functools.partial(net.apply, train=False))


@pytest.mark.parametrize("form", ["state_dict", "checkpoint", "pickled"])
def test_converted_weights_reproduce_pytorch(form, reference, converted, apply_ours):
    variables, meta, _ = checkpoint.load_variables(converted[form])
    assert meta["model"] == model.model_meta(CONFIG)
    out = apply_ours(variables, reference.images.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(
        out["heatmaps"], reference.heatmaps.transpose(0, 1, 3, 4, 2), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(out["depth"], reference.depth, rtol=1e-4, atol=1e-4)


def test_meta_records_the_input_convention_and_source(reference, converted):
    _, meta, _ = checkpoint.load_variables(converted["pickled"])
    assert meta["input"] == dict(checkpoint.INPUT_BGR_256, res=128)
    assert meta["source"]["file"] == "hgreg-3d.pth"
    assert meta["source"]["format"] == "pytorch-pickled-module"
    assert meta["source"]["input_size"] == INPUT_SIZE
    assert len(meta["source"]["sha256"]) == 64


def test_a_pickled_model_needs_trust(reference, tmp_path):
    with pytest.raises(convert.ConversionError, match="--trust-pickle") as err:
        convert.convert(reference.files["pickled"], tmp_path / "out")
    assert "run any code" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def _broken(state, case):
    state = dict(state)
    if case == "renamed":
        state["tmpOut.1.weights"] = state.pop("tmpOut.1.weight")
        return state, "tmpOut.1.weight"
    if case == "missing":
        del state["hourglass.0.up1_.1.conv2.bias"]
        return state, "hourglass.0.up1_.1.conv2.bias"
    if case == "extra":
        state["cam.weight"] = torch.zeros(6, 3)
        return state, "cam.weight"
    key = "hourglass.1.low1_.0.conv2.weight"
    state[key] = torch.zeros(8, 8, 1, 1)
    return state, key


@pytest.mark.parametrize("case", ["renamed", "missing", "extra", "wrong_shape"])
def test_a_broken_file_fails_naming_the_key(case, reference, tmp_path):
    state, key = _broken(reference.net.state_dict(), case)
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(convert.ConversionError, match=f"'{key}'"):
        convert.convert(tmp_path / "broken.pth", tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["broken.pth"]


def test_a_failed_write_leaves_nothing(reference, tmp_path, monkeypatch):
    def write_then_fail(directory, variables, meta):
        (directory / "0").mkdir()
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "write_inference_checkpoint", write_then_fail)
    with pytest.raises(OSError):
        convert.convert(reference.files["state_dict"], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_unusable_inputs_end_in_one_sentence(tmp_path, capsys):
    (tmp_path / "junk.pth").write_bytes(b"\xff\xd8 not a checkpoint" * 4)
    (tmp_path / "hgreg-3d.t7").write_bytes(b"\x04\x00\x00\x00\x01\x00\x00\x00\x03\x00\x00\x00V 1")
    (tmp_path / "renamed_t7.pth").write_bytes((tmp_path / "hgreg-3d.t7").read_bytes())
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    expected = {
        "absent.pth": "does not exist",
        "junk.pth": "not a readable PyTorch checkpoint",
        "hgreg-3d.t7": "truncated or damaged",  # a Torch7 header and nothing more
        "renamed_t7.pth": "could not be read as a Torch7 file",
        "list.pth": "holds a list",
    }
    for name, message in expected.items():
        assert convert_cli.main([str(tmp_path / name), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_existing_output_folder_is_not_overwritten(reference, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(convert.ConversionError, match="not empty"):
        convert.convert(reference.files["state_dict"], tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_data_parallel_prefix_is_dropped(tmp_path):
    torch.save({"module.reg.bias": torch.ones(16)}, tmp_path / "dp.pth")
    from pose3d_jax.weights import torch_io

    state, form = torch_io.read_state_dict(tmp_path / "dp.pth")
    assert list(state) == ["reg.bias"] and form == "pytorch-state-dict"


def test_the_full_size_pytorch_tree_maps_exactly_onto_ours():
    with torch.device("meta"):  # shapes only, no memory
        net = HourglassNet3D(2, 2, 256, 2)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    config, input_size = convert.infer_config(shapes)
    assert input_size == 256
    assert model.model_meta(config) == model.model_meta(
        {"num_stacks": 2, "num_modules": 2, "num_features": 256, "num_reg_modules": 2}
    )
    abstract = convert.abstract_variables(config, input_size)
    table = convert.key_table(abstract, config["num_modules"])
    weights = {k for k in shapes if not k.endswith("num_batches_tracked")}
    assert sorted(table.values()) == sorted(weights)  # a bijection: no key twice, none left
    for path, key in table.items():
        leaf = functools.reduce(lambda tree, name: tree[name], path, abstract)
        assert convert.torch_shape(leaf.shape) == shapes[key], key
    count = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(abstract["params"]))
    assert count == 14_429_104 == sum(p.numel() for p in net.parameters())
