"""Train state, the pure train step, and its pmap wiring (SPEC 5).

`train_step` is a module-level pure function: state and a device batch in,
(new state, metrics) out. Augmentation happens inside it on the device, with
one PRNG key per sample derived from the step and the sample's global index,
so a run gives the same result on 1 or N devices for the same global batch.
The loop lives in trainer.py.
"""

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from pose3d_jax import geometry
from pose3d_jax.data import augment
from pose3d_jax.training import losses

AXIS = "batch"  # the pmap axis: gradients, BatchNorm statistics and metrics average over it


class TrainState(struct.PyTreeNode):
    """Everything that changes during training, as one pytree."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array

    def model_variables(self):
        return {"params": self.params, "batch_stats": self.batch_stats}


def learning_rate_schedule(train_config):
    """Constant LR divided by 10 at `drop_lr_epoch` (never when negative).

    With `warmup_steps` > 0 (the GPU recipe, configs/gpu_recipe.py) the LR of step s
    is multiplied by min(1, (s + 1) / warmup_steps): a linear ramp whose first step
    is not zero, the drop staying at the same step. The paper's recipe has none.
    """
    base = train_config.learning_rate
    if train_config.drop_lr_epoch < 0:
        schedule = optax.constant_schedule(base)
    else:
        drop_step = train_config.drop_lr_epoch * train_config.steps_per_epoch
        schedule = optax.piecewise_constant_schedule(base, {drop_step: 0.1})
    warmup = int(train_config.get("warmup_steps", 0))  # configs written before the field
    if warmup <= 0:
        return schedule

    def warmed_up(step):
        return schedule(step) * jnp.minimum(1.0, (step + 1) / warmup)

    return warmed_up


def create_optimizer(train_config):
    """Torch7's RMSprop: decay 0.99, eps outside the square root, no momentum."""
    schedule = learning_rate_schedule(train_config)
    tx = optax.rmsprop(
        schedule,
        decay=train_config.rmsprop_decay,
        eps=train_config.rmsprop_eps,
        eps_in_sqrt=False,
    )
    return tx, schedule


def create_train_state(rng, model, tx, input_res, variables=None):
    """Fresh (or given) model variables, a new optimizer state, step 0."""
    init_rng, state_rng = jax.random.split(rng)
    if variables is None:
        dummy = jnp.zeros((1, input_res, input_res, 3), jnp.float32)
        variables = jax.jit(functools.partial(model.init, train=False))(init_rng, dummy)
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables["batch_stats"],
        opt_state=tx.init(params),
        rng=state_rng,
    )


def _per_sample_augmentation(step_key, global_index, enabled, aug_config):
    """Augmentation parameters of each sample from its own key (device-count invariant)."""

    def one(index, on):
        params = augment.sample_augmentation(
            jax.random.fold_in(step_key, index), 1, enabled=on[None], **aug_config
        )
        return jax.tree.map(lambda x: x[0], params)

    return jax.vmap(one)(global_index, enabled)


def augmentation_config(config_augment):
    """The sample_augmentation keyword arguments of an augment config."""
    keys = (
        "scale_factor",
        "rotation_factor",
        "rotation_prob",
        "flip_prob",
        "color_low",
        "color_high",
    )
    return {k: config_augment[k] for k in keys}


def make_targets(state, batch, *, aug_config, augment_3d, input_res, heatmap_res, axis_name=AXIS):
    """Augmented network inputs and targets of this device's share of the batch."""
    per_device = batch["scale"].shape[0]
    first = jax.lax.axis_index(axis_name) * per_device if axis_name else 0
    global_index = first + jnp.arange(per_device)
    step_key = jax.random.fold_in(state.rng, state.step)
    has_depth = jnp.asarray(batch["has_depth"], bool)
    enabled = jnp.logical_or(jnp.logical_not(has_depth), augment_3d)
    params = _per_sample_augmentation(step_key, global_index, enabled, aug_config)
    return augment.apply_augmentation(batch, params, input_res=input_res, heatmap_res=heatmap_res)


def train_step(
    state,
    batch,
    *,
    model,
    tx,
    schedule,
    reg_weight,
    var_weight,
    aug_config,
    augment_3d=False,
    input_res=256,
    heatmap_res=64,
    axis_name=AXIS,
):
    """One RMSprop step on this device's share of the global batch.

    A non-finite loss leaves the state unchanged and is counted in
    metrics['nonfinite'], so a bad step never reaches a checkpoint.
    """
    targets = make_targets(
        state,
        batch,
        aug_config=aug_config,
        augment_3d=augment_3d,
        input_res=input_res,
        heatmap_res=heatmap_res,
        axis_name=axis_name,
    )

    def loss_fn(params):
        outputs, updates = model.apply(
            {"params": params, "batch_stats": state.batch_stats},
            targets["inputs"],
            train=True,
            mutable=["batch_stats"],
        )
        total, terms = losses.total_loss(
            outputs, targets, reg_weight=reg_weight, var_weight=var_weight
        )
        return total, (terms, updates["batch_stats"], outputs)

    (total, (terms, batch_stats, outputs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params
    )
    if axis_name:
        grads = jax.lax.pmean(grads, axis_name)
        total, terms = jax.lax.pmean((total, terms), axis_name)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)

    finite = jnp.isfinite(total)
    keep = functools.partial(jnp.where, finite)
    new_state = state.replace(
        step=state.step + 1,
        params=jax.tree.map(keep, params, state.params),
        batch_stats=jax.tree.map(keep, batch_stats, state.batch_stats),
        opt_state=jax.tree.map(keep, opt_state, state.opt_state),
    )
    metrics = step_metrics(total, terms, outputs, targets, schedule(state.step), finite, axis_name)
    return new_state, metrics


def step_metrics(total, terms, outputs, targets, learning_rate, finite, axis_name):
    """Losses, LR, the 2D accuracy and a depth error, summed as (sum, count) pairs."""
    hits, count = geometry.heatmap_accuracy(
        outputs["heatmaps"][-1], targets["heatmaps"], targets["visible"]
    )
    has_depth = jnp.asarray(targets["has_depth"], jnp.float32)
    depth_abs = jnp.mean(jnp.abs(outputs["depth"] - targets["depth"]), axis=-1)
    sums = {
        "accuracy": (hits, count),
        "depth_abs_error": (jnp.sum(depth_abs * has_depth), jnp.sum(has_depth)),
    }
    if axis_name:
        sums = jax.lax.psum(sums, axis_name)
    return {
        "loss": total,
        **terms,
        "learning_rate": learning_rate,
        "nonfinite": 1.0 - finite.astype(jnp.float32),
        **{f"{k}_sum": v[0] for k, v in sums.items()},
        **{f"{k}_count": v[1] for k, v in sums.items()},
    }


def make_p_train_step(config, model, tx, schedule):
    """train_step pmapped over local devices, the state donated."""
    step = functools.partial(
        train_step,
        model=model,
        tx=tx,
        schedule=schedule,
        reg_weight=config.train.reg_weight,
        var_weight=config.train.var_weight,
        aug_config=augmentation_config(config.augment),
        augment_3d=config.augment.augment_3d,
        input_res=config.data.input_res,
        heatmap_res=config.data.heatmap_res,
        axis_name=AXIS,
    )
    return jax.pmap(step, axis_name=AXIS, donate_argnums=(0,))


def replicate(tree, num_devices=None):
    """Copies a host pytree onto every local device (leading device axis)."""
    num_devices = num_devices or jax.local_device_count()
    stacked = jax.tree.map(
        lambda x: np.broadcast_to(np.asarray(x), (num_devices, *np.shape(x))), tree
    )
    return jax.device_put(stacked, device_axis_sharding(num_devices))


def device_axis_sharding(num_devices=None):
    """Axis 0 split over the first num_devices local devices, as pmap lays out its arguments.

    Named as pmap names its outputs' axis: a state put here matches step 1's output, so
    step 2 reuses step 1's executable (a different axis name costs a second compile).
    """
    devices = jax.local_devices()[: num_devices or jax.local_device_count()]
    mesh = jax.sharding.Mesh(np.array(devices), (AXIS,))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(AXIS))


def unreplicate(tree):
    """The first device's copy of a replicated pytree, on the host."""
    return jax.device_get(jax.tree.map(lambda x: x[0], tree))


def summarize_metrics(history):
    """Averages a list of per-step metric dicts (host NumPy) into scalars."""
    out = {}
    keys = history[0].keys()
    for key in keys:
        if key.endswith("_count"):
            continue
        values = np.array([np.asarray(h[key]).reshape(-1)[0] for h in history], np.float64)
        if key.endswith("_sum"):
            name = key[: -len("_sum")]
            counts = np.array([np.asarray(h[f"{name}_count"]).reshape(-1)[0] for h in history])
            out[name] = float(values.sum() / max(counts.sum(), 1.0))
        elif key == "nonfinite":
            out[key] = float(values.sum())
        else:
            out[key] = float(values.mean())
    return out
