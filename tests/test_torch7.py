"""The original's Torch7 files: a small hgreg-3d written by real Torch7 (nn after
clearState, float, and with cudnn's class names and CUDA tensor types), converted, gives
Torch7's own outputs; edited and wrong files are refused in one sentence; the original's
criteria, run by Torch7, give our losses' values and gradients. The fixtures come from
tools/torch7/make_fixtures.sh (Torch7 built by tools/build_torch7.sh)."""

import gzip
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO_ROOT

from pose3d_jax import checkpoint, convert
from pose3d_jax.training import losses
from pose3d_jax.weights import torch7
from pose3d_jax.weights.convert import ConversionError
from pose3d_jax.weights.convert import convert as convert_file

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "torch7"
MODELS = ("model_clearstate", "model_float", "model_cudnn")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch7")
    for packed in FIXTURES.glob("*.t7.gz"):
        with gzip.open(packed) as src, open(folder / packed.name[: -len(".gz")], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return folder


@pytest.fixture(scope="module")
def torch7_outputs(files):
    import torchfile

    io = torchfile.load(str(files / "io.t7"), use_list_heuristic=False)
    images = np.asarray(io[b"input"]).astype(np.float32) / 255.0  # [N, 3, 256, 256] RGB
    heatmaps = [np.asarray(h) for h in torch7.lua_list(io[b"heatmaps"])]
    return np.transpose(images, (0, 2, 3, 1)), heatmaps, np.asarray(io[b"depth"])


@pytest.mark.parametrize("name", MODELS)
def test_a_torch7_file_converted_gives_torch7s_outputs(name, files, torch7_outputs, tmp_path):
    from pose3d_jax.model import network

    out, meta = convert_file(files / f"{name}.t7", tmp_path / "ckpt")
    assert meta["input"] == {"channel_order": "rgb", "divisor": 255.0, "res": 256}
    assert meta["source"]["project"] == "xingyizhou/pose-hg-3d (Torch7)"
    assert checkpoint.provenance_kind(meta) == checkpoint.CONVERTED
    assert meta["model"]["num_stacks"] == 2 and meta["model"]["hourglass_depth"] == 4
    loaded = network.load_network(out)
    images, heatmaps, depth = torch7_outputs
    ours = loaded.model.apply(loaded.variables, images, train=False)
    assert len(heatmaps) == 2
    for stack, want in enumerate(heatmaps):
        got = np.transpose(np.asarray(ours["heatmaps"][stack]), (0, 3, 1, 2))
        assert np.abs(got - want).max() <= 1e-4, (name, stack)
    assert np.abs(np.asarray(ours["depth"]) - depth).max() <= 1e-4
    assert np.abs(heatmaps[-1]).max() > 0.1 and np.abs(depth).max() > 0.5  # not trivial


def test_the_cudnn_file_holds_gpu_training_names(files):
    raw = (files / "model_cudnn.t7").read_bytes()
    for name in (b"cudnn.SpatialConvolution", b"cudnn.ReLU", b"cudnn.SpatialMaxPooling",
                 b"torch.CudaTensor", b"torch.CudaStorage"):  # fmt: skip
        assert name in raw
    assert b"torch.FloatTensor" not in raw and b"torch.FloatStorage" not in raw
    assert re.search(rb"(?<!cud)nn\.(ReLU|SpatialConvolution|SpatialMaxPooling)", raw) is None


def test_the_command_line_converts_a_t7(files, tmp_path, capsys):
    assert convert.main([str(files / "model_float.t7"), "--out", str(tmp_path / "c")]) == 0
    said = capsys.readouterr().out
    assert "2 stacks, 1 modules, 16 features" in said and "RGB / 255" in said
    meta = checkpoint.read_meta(checkpoint.resolve_step_dir(tmp_path / "c"))
    assert meta["source"]["format"] == "torch7 nngraph gModule"


def _residual_block(gmodule):
    """The convolution block (a Sequential's module list) of the first residual."""
    for node in torch7.lua_list(gmodule[b"forwardnodes"]):
        module = node[b"data"].get(b"module")
        if module is not None and torch7._class(module) == "nn.Sequential":
            concat = torch7.lua_list(module[b"modules"])[0]
            return torch7.lua_list(concat[b"modules"])[0][b"modules"]
    raise AssertionError("no residual")


def test_an_edited_file_with_a_missing_or_extra_module_is_refused(files):
    import torchfile

    missing = torch7.load(files / "model_float.t7")  # (the graph is cyclic: load, not copy)
    block = _residual_block(missing)
    del block[max(block)]  # the residual's last 1x1 convolution
    with pytest.raises(ConversionError, match=r"the convolution block of the stem, residual 1"):
        torch7.state_dict(missing, "missing.t7")
    extra = torch7.load(files / "model_float.t7")
    block = _residual_block(extra)
    block[max(block) + 1] = block[2]  # one more ReLU after the last convolution
    with pytest.raises(ConversionError, match=r"holds \[.*'nn.ReLU'\], where a Residual's"):
        torch7.state_dict(extra, "extra.t7")
    stray = torch7.load(files / "model_float.t7")  # a Linear no edge leads to
    nodes = stray[b"forwardnodes"]
    linear = next(n for n in torch7.lua_list(nodes) if n[b"data"].get(b"module") is not None
                  and torch7._class(n[b"data"][b"module"]) == "nn.Linear")  # fmt: skip
    data = type(linear[b"data"])({**linear[b"data"], b"mapindex": {}})
    fields = {**linear._obj, b"children": {}, b"id": 999.0, b"data": data}
    lonely = torchfile.TorchObject(linear.torch_typename(), fields)
    nodes[max(nodes) + 1] = lonely
    with pytest.raises(ConversionError, match=r"has a nn.Linear \(graph node 999\) outside"):
        torch7.state_dict(stray, "stray.t7")


@pytest.mark.parametrize(
    "make, phrase",
    [
        (lambda f, t: _truncated(f, t), "truncated or damaged"),
        (lambda f, t: f / "model_ascii.t7", "ASCII-format Torch7 file"),
        (lambda f, t: f / "optim_state.t7", "holds a Lua table, not an nngraph gModule"),
    ],
)
def test_bad_torch7_files_are_one_sentence_and_write_nothing(make, phrase, files, tmp_path, capsys):
    source = make(files, tmp_path)
    out = tmp_path / "out"
    assert convert.main([str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and phrase in err[0] and str(source.name) in err[0]
    assert not out.exists()


def _truncated(folder, tmp_path):
    data = (folder / "model_float.t7").read_bytes()
    path = tmp_path / "cut.t7"
    path.write_bytes(data[: len(data) // 2])
    return path


def test_our_losses_match_the_original_criteria_run_by_torch7(files):
    import torchfile

    c = torchfile.load(str(files / "criteria.t7"), use_list_heuristic=False)
    z = jnp.asarray(np.asarray(c[b"z"]), jnp.float32)
    weak = np.asarray(c[b"weakTarget"])
    reg_target = np.asarray(c[b"regTarget"])
    xy, visible = jnp.asarray(weak[..., :2]), jnp.asarray(weak[..., 2] > 0.5)
    var_values = [float(v) for v in torch7.lua_list(c[b"var_output"])]
    var_grads = [np.asarray(g)[0] for g in torch7.lua_list(c[b"var_grad"])]
    ours = losses.geometric_loss_per_sample(xy, z, visible)
    np.testing.assert_allclose(np.asarray(ours), var_values, atol=1e-5)
    grads = jax.grad(lambda z: losses.geometric_loss_per_sample(xy, z, visible).sum())(z)
    np.testing.assert_allclose(np.asarray(grads), np.stack(var_grads), atol=1e-5)
    mse = [float(v) for v in torch7.lua_list(c[b"mse_output"])]
    np.testing.assert_allclose(
        np.asarray(losses.depth_loss_per_sample(z, jnp.asarray(reg_target))), mse, atol=1e-6
    )
    # FusionCriterion on the batch: depth samples (1, 3) take the MSE, 2D-only (2, 4) the
    # geometric loss; its gradient is our weighted batch mean's.
    has_depth = jnp.asarray([1.0, 0.0, 1.0, 0.0])
    reg_weight, var_weight = float(c[b"regWeight"]), float(c[b"varWeight"])

    def fusion(z):
        depth = losses.depth_loss_per_sample(z, jnp.asarray(reg_target))
        geometric = losses.geometric_loss_per_sample(xy, z, visible)
        return jnp.mean(reg_weight * has_depth * depth + var_weight * (1 - has_depth) * geometric)

    np.testing.assert_allclose(
        np.asarray(jax.grad(fusion)(z)), np.asarray(c[b"fusion_grad"]), atol=1e-5
    )
    # its printed value overwrote instead of summing (SPEC 4's quirk): the last sample's / B
    assert float(c[b"fusion_output"]) == pytest.approx(var_weight * var_values[3] / 4, abs=1e-9)
    assert float(fusion(z)) != pytest.approx(float(c[b"fusion_output"]), rel=1e-3)
