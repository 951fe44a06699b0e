"""The training loop end to end on tiny shards: resume and the stage chain."""

import jax
import numpy as np
import pytest
from train_fixtures import STORED, host_batch, split_for_devices, tiny_config

from pose3d_jax import checkpoint
from pose3d_jax.training import trainer


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from datasets import fake_shards

    root = tmp_path_factory.mktemp("shards")
    fake_shards.write_fake_shards(root, "h36m", {"train": 24, "test": 4}, image_size=STORED)
    fake_shards.write_fake_shards(root, "mpii", {"train": 24, "validation": 4}, image_size=STORED)
    return root


def _params(workdir):
    variables, meta, _ = checkpoint.load_variables(workdir / "checkpoints")
    return variables, meta


@pytest.mark.slow
def test_resume_equals_an_uninterrupted_run(shards, tmp_path):
    config = tiny_config(shards, reg_weight=0.1, num_epochs=2)
    config.eval.datasets = ()
    straight = trainer.train_and_evaluate(config, tmp_path / "straight")
    assert straight["step"] == 10
    half = tiny_config(shards, reg_weight=0.1, num_epochs=1)
    half.eval.datasets = ()
    assert trainer.train_and_evaluate(half, tmp_path / "resumed")["step"] == 5
    resumed = trainer.train_and_evaluate(config, tmp_path / "resumed")
    assert resumed["step"] == 10
    a, meta = _params(tmp_path / "straight")
    b, _ = _params(tmp_path / "resumed")
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, atol=1e-6)
    assert meta["input"]["channel_order"] == "rgb" and meta["input"]["res"] == 64
    assert (tmp_path / "straight" / "config.json").is_file()


@pytest.mark.slow
def test_stage_chain_initialises_each_stage_from_the_previous(shards, tmp_path):
    results = {}
    previous = ""
    for stage, (reg, var) in enumerate([(0.0, 0.0), (0.1, 0.0), (0.1, 0.01)], start=1):
        config = tiny_config(shards, reg_weight=reg, var_weight=var, num_epochs=1,
                             steps_per_epoch=2, init_from=previous)  # fmt: skip
        config.train.checkpoint_every_steps = 2
        if stage < 3:
            config.eval.datasets = ()  # evaluate the last stage only (compiles once)
        workdir = tmp_path / f"stage{stage}"
        results[stage] = trainer.train_and_evaluate(config, workdir)
        assert results[stage]["step"] == 2  # the optimizer and step start afresh
        assert np.isfinite(results[stage]["train"]["loss"])
        previous = str(workdir)
    assert "h36m_mpjpe_mm" in results[3]["eval"] and "mpii_pckh" in results[3]["eval"]
    assert results[3]["train"]["geometric_loss"] >= 0.0
    # Stage 2 started from stage 1's weights: they differ from a fresh start by 2 steps only.
    s1, _ = _params(tmp_path / "stage1")
    s2, _ = _params(tmp_path / "stage2")
    pairs = zip(jax.tree.leaves(s1["params"]), jax.tree.leaves(s2["params"]), strict=True)
    gap = max(float(np.abs(x - y).max()) for x, y in pairs)
    assert gap < 0.05


def test_init_from_a_missing_workdir_is_a_clear_error(shards, tmp_path):
    config = tiny_config(shards, init_from=str(tmp_path / "nowhere"))
    with pytest.raises(checkpoint.CheckpointError, match="nowhere"):
        trainer.train_and_evaluate(config, tmp_path / "run")


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(shards, tmp_path):
    """Steps 1-5 are good (checkpoint at 5), step 6's batch is NaN: a clear stop."""
    config = tiny_config(shards, reg_weight=0.1, num_epochs=2)
    config.eval.datasets = ()
    devices = jax.local_device_count()
    good = [host_batch(devices, seed=s) for s in range(5)]
    bad = dict(good[0], depth=np.full_like(good[0]["depth"], np.nan))
    batches = iter([split_for_devices(b, devices) for b in [*good, bad, *good]])
    config.train.batch_size = devices
    with pytest.raises(trainer.NonFiniteLossError, match=r"steps 5 and 10.*step 5\) is kept"):
        trainer.train_and_evaluate(config, tmp_path / "run", batches=batches)
    assert checkpoint.manager(tmp_path / "run" / checkpoint.LATEST_DIR).all_steps() == [5]
    variables, _ = _params(tmp_path / "run")
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(variables))
