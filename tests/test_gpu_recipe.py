"""The GPU recipe (configs/gpu_recipe.py) against the paper's stages: same images, same
schedule shape at the square-root-scaled LR, bfloat16 compute on float32 weights.
No training: schedules are evaluated and the model only traced (jax.eval_shape)."""

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import gpu_recipe, stage1, stage1_gpu, stage2, stage2_gpu, stage3, stage3_gpu
from pose3d_jax import model as model_lib
from pose3d_jax.training import train

STAGES = [(stage1, stage1_gpu), (stage2, stage2_gpu), (stage3, stage3_gpu)]


def _images(config):
    t = config.train
    return t.num_epochs * t.steps_per_epoch * t.batch_size


def _total_steps(config):
    return config.train.num_epochs * config.train.steps_per_epoch


@pytest.mark.parametrize("paper, gpu", STAGES)
def test_the_default_batch_sees_exactly_the_papers_images(paper, gpu):
    p, g = paper.get_config(), gpu.get_config()
    assert g.train.batch_size == gpu_recipe.DEFAULT_BATCH == 64 and p.train.batch_size == 6
    assert g.train.steps_per_epoch * 64 == p.train.steps_per_epoch * 6 == 24_000
    assert _images(g) == _images(p) and g.train.num_epochs == p.train.num_epochs
    # Checkpoints and evaluations every 5 epochs as in the paper's recipe.
    assert g.train.checkpoint_every_steps * 64 == p.train.checkpoint_every_steps * 6
    assert g.eval.every_steps * 64 == p.eval.every_steps * 6
    assert g.train.drop_lr_epoch == p.train.drop_lr_epoch


@pytest.mark.parametrize("batch", ["32", "96", "128", "256"])
def test_other_batches_round_an_epoch_to_whole_steps(batch):
    for paper, gpu in STAGES:
        p, g = paper.get_config(), gpu.get_config(batch)
        assert g.train.batch_size == int(batch)
        # Rounding an epoch to whole steps changes the images by under half a batch per epoch.
        assert abs(_images(g) - _images(p)) <= g.train.num_epochs * int(batch) / 2
        assert abs(_images(g) / _images(p) - 1) < 0.006
        assert g.train.learning_rate == pytest.approx(
            p.train.learning_rate * math.sqrt(int(batch) / 6)
        )


def test_a_bad_batch_is_a_clear_error():
    with pytest.raises(ValueError, match="positive"):
        stage1_gpu.get_config("0")


def test_the_paper_configs_have_no_warmup():
    for paper, _ in STAGES:
        assert paper.get_config().train.warmup_steps == 0


@pytest.mark.parametrize("paper, gpu", STAGES)
def test_after_warmup_the_lr_at_each_share_of_images_is_the_papers_times_sqrt_b(paper, gpu):
    p, g = paper.get_config(), gpu.get_config()
    p_lr, g_lr = train.learning_rate_schedule(p.train), train.learning_rate_schedule(g.train)
    factor = math.sqrt(64 / 6)
    assert g.train.learning_rate == pytest.approx(p.train.learning_rate * factor)
    warmup_share = g.train.warmup_steps / _total_steps(g)
    shares = np.linspace(0, 1, 401, endpoint=False)
    checked = 0
    for share in shares[shares >= warmup_share]:
        g_step = round(share * _total_steps(g))
        p_step = g_step * 64 // 6  # the paper's step after the same images (64 s / 6)
        assert float(g_lr(g_step)) == pytest.approx(float(p_lr(p_step)) * factor, rel=1e-6)
        checked += 1
    assert checked > 300
    assert float(g_lr(_total_steps(g) - 1)) == pytest.approx(
        float(p_lr(_total_steps(p) - 1)) * factor, rel=1e-6
    )


def test_stage2_drops_the_lr_after_the_same_images():
    p, g = stage2.get_config(), stage2_gpu.get_config()
    p_lr, g_lr = train.learning_rate_schedule(p.train), train.learning_rate_schedule(g.train)
    p_drop = p.train.drop_lr_epoch * p.train.steps_per_epoch
    g_drop = g.train.drop_lr_epoch * g.train.steps_per_epoch
    assert p_drop * 6 == g_drop * 64 == 960_000
    peak = g.train.learning_rate
    assert float(g_lr(g_drop - 1)) == pytest.approx(peak)
    assert float(g_lr(g_drop)) == pytest.approx(peak / 10)
    assert float(p_lr(p_drop - 1)) / float(p_lr(p_drop)) == pytest.approx(10)


@pytest.mark.parametrize("gpu", [stage1_gpu, stage2_gpu, stage3_gpu])
def test_warmup_is_a_linear_ramp_over_the_first_epoch(gpu):
    g = gpu.get_config()
    lr = train.learning_rate_schedule(g.train)
    warmup, peak = g.train.warmup_steps, g.train.learning_rate
    assert warmup == g.train.steps_per_epoch == 375
    steps = np.arange(0, warmup + 5)
    values = np.array([float(lr(s)) for s in steps])
    expected = peak * np.minimum(1.0, (steps + 1) / warmup)
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert values[0] > 0 and values[warmup - 1] == pytest.approx(peak)


def test_the_recipe_computes_in_bfloat16_on_float32_weights():
    config = stage1_gpu.get_config()
    assert config.model.dtype == "bfloat16" and gpu_recipe.DTYPE == "bfloat16"
    net = model_lib.create_model(config.model)
    tx, _ = train.create_optimizer(config.train)
    res = config.data.input_res
    state = jax.eval_shape(lambda: train.create_train_state(jax.random.key(0), net, tx, res))
    # The master copy: parameters, RMSprop state and BatchNorm statistics in float32.
    for tree in (state.params, state.opt_state, state.batch_stats):
        dtypes = {leaf.dtype for leaf in jax.tree.leaves(tree) if jnp.ndim(leaf) > 0}
        assert dtypes == {jnp.dtype(jnp.float32)}, dtypes
    images = jax.ShapeDtypeStruct((2, res, res, 3), jnp.float32)
    outputs, intermediates = jax.eval_shape(
        lambda v, x: net.apply(v, x, train=False, capture_intermediates=True),
        state.model_variables(),
        images,
    )
    # The losses see float32 outputs; the layers in between computed in bfloat16.
    assert outputs["heatmaps"].dtype == jnp.float32 and outputs["depth"].dtype == jnp.float32
    activations = [
        leaf
        for leaf in jax.tree.leaves(intermediates["intermediates"])
        if getattr(leaf, "ndim", 0) == 4
    ]
    assert len(activations) > 100
    assert {a.dtype for a in activations} == {jnp.dtype(jnp.bfloat16)}


# Compile time: the persistent cache in launch.py, the XLA:GPU flags.

LAUNCH_TWICE = r"""
import json, sys, time
import jax, jax.numpy as jnp
from jax import monitoring

events = {}
def count(name, **kwargs):
    events[name] = events.get(name, 0) + 1
monitoring.register_event_listener(count)
import types
import launch
trainer = types.ModuleType("pose3d_jax.training.trainer")  # stands in (no TensorFlow import)
trainer.wait_for_everyone = lambda: None
sys.modules[trainer.__name__] = trainer

def fake_training(config, workdir):
    # The launch path is set up; a jitted step stands in for the trainer's.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # tiny: always cached
    def step(w, x):
        for _ in range(4):
            x = jnp.tanh(x @ w)
        return jax.grad(lambda w: jnp.sum(jnp.tanh(x @ w)))(w)
    start = time.perf_counter()
    jax.jit(step).lower(jnp.ones((32, 32)), jnp.ones((8, 32))).compile()
    events["compile_s"] = time.perf_counter() - start
    events["cache_dir"] = jax.config.jax_compilation_cache_dir

trainer.train_and_evaluate = fake_training
launch.FLAGS(["launch.py", "--config=configs/synthetic.py", "--workdir=" + sys.argv[1]])
launch.main(["launch.py"])
print(json.dumps(events))
"""


def test_a_second_launch_loads_the_compiled_step_from_the_cache(tmp_path):
    import json
    import os
    import subprocess
    import sys

    cache = tmp_path / "cache"
    env = {**os.environ, "POSE3D_JAX_COMPILATION_CACHE": str(cache), "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)

    def launch():
        done = subprocess.run(
            [sys.executable, "-c", LAUNCH_TWICE, str(tmp_path / "workdir")],
            cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
            timeout=120, check=True,
        )  # fmt: skip
        files = sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file())
        return json.loads(done.stdout.strip().splitlines()[-1]), files

    first, files_first = launch()
    second, files_second = launch()
    assert first["cache_dir"] == second["cache_dir"] == str(cache)
    assert first.get("/jax/compilation_cache/cache_misses", 0) >= 1
    assert first.get("/jax/compilation_cache/cache_hits", 0) == 0 and files_first
    assert second.get("/jax/compilation_cache/cache_hits", 0) >= 1
    assert second.get("/jax/compilation_cache/cache_misses", 0) == 0
    assert files_second == files_first  # nothing compiled anew, nothing written


def test_gpu_flag_profiles_and_the_users_own_flags():
    from pose3d_jax.runtime import compile_cache as cc

    assert cc.gpu_flags({}) == cc.GPU_FLAG_PROFILES["default"] == ("--xla_gpu_autotune_level=2",)
    assert cc.gpu_flags({cc.GPU_FLAGS_ENV: "off"}) == () == cc.gpu_flags({cc.GPU_FLAGS_ENV: "0"})
    assert "--xla_gpu_enable_triton_gemm=false" in cc.gpu_flags({cc.GPU_FLAGS_ENV: "fast"})
    with pytest.raises(ValueError, match="default, fast, off"):
        cc.gpu_flags({cc.GPU_FLAGS_ENV: "fastest"})
    # The user's value of a flag wins; other flags are kept as they are.
    merged = cc.merge_xla_flags(
        "--xla_gpu_autotune_level=4 --xla_dump_to=/tmp/d", cc.GPU_FLAG_PROFILES["fast"]
    )
    assert merged.split() == [
        "--xla_gpu_autotune_level=4",
        "--xla_dump_to=/tmp/d",
        "--xla_gpu_enable_triton_gemm=false",
    ]


def test_gpu_flags_apply_only_where_a_gpu_backend_will_start(monkeypatch):
    from pose3d_jax.runtime import compile_cache as cc

    environ = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    monkeypatch.setattr(cc, "gpu_backend_expected", lambda environ=None: False)
    assert cc.apply_gpu_flags(environ) == () and environ["XLA_FLAGS"].count("--") == 1
    monkeypatch.setattr(cc, "gpu_backend_expected", lambda environ=None: True)
    monkeypatch.setattr(cc, "_backend_started", lambda: True)  # too late: XLA read its flags
    assert cc.apply_gpu_flags(environ) == ()
    monkeypatch.setattr(cc, "_backend_started", lambda: False)
    assert cc.apply_gpu_flags(environ) == ("--xla_gpu_autotune_level=2",)
    assert environ["XLA_FLAGS"].split()[-1] == "--xla_gpu_autotune_level=2"
    assert cc.apply_gpu_flags({**environ, cc.GPU_FLAGS_ENV: "off"}) == ()


def test_no_gpu_backend_is_expected_under_jax_platforms_cpu():
    import jax

    from pose3d_jax.runtime import compile_cache as cc

    if jax.config.jax_platforms:
        pytest.skip(f"jax_platforms is set to {jax.config.jax_platforms!r} in this process")
    assert not cc.gpu_backend_expected({"JAX_PLATFORMS": "cpu"})
