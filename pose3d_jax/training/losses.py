"""The training loss of SPEC section 4 as vectorised, masked JAX expressions.

total = sum over stacks of heatmap MSE
      + mean over samples of (reg_weight * depth L2   where the sample has depth,
                              var_weight * geometric loss   where it has not)

Which samples carry depth and which joints are visible are explicit masks,
never sentinel values in the targets.
"""

import jax
import jax.numpy as jnp
import numpy as np

from pose3d_jax import geometry, skeleton


def heatmap_loss(pred_heatmaps, target_heatmaps):
    """Sum over stacks of the mean squared error over all elements.

    pred_heatmaps [S, B, H, W, J], target_heatmaps [B, H, W, J].
    """
    per_stack = jnp.mean((pred_heatmaps - target_heatmaps[None]) ** 2, axis=(1, 2, 3, 4))
    return jnp.sum(per_stack)


def depth_loss_per_sample(pred_depth, target_depth):
    """Mean over joints of the squared depth error, [B, J] -> [B]."""
    return jnp.mean((pred_depth - target_depth) ** 2, axis=-1)


def _safe_norm(v):
    """Euclidean norm with a zero (not NaN) gradient at the zero vector."""
    sq = jnp.sum(v**2, axis=-1)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _group_arrays(group):
    bones = np.array([bone for bone, _ in group], dtype=np.int32)
    weights = np.array([w for _, w in group], dtype=np.float32)
    return bones, weights


def geometric_loss_per_sample(xy, z, visible):
    """The paper's bone-ratio loss for each sample (SPEC 4).

    Within each bone group, weighted 3D bone lengths of bones whose two joints
    are visible should be equal: sum (l - mean l)^2 / count, summed over groups;
    a group with no visible bone contributes 0.

    Args:
      xy: [B, J, 2] joints in normalised units ([-1, 1] over the heatmap).
      z: [B, J] predicted depths in the same units.
      visible: [B, J] bool.
    Returns:
      [B] loss per sample.
    """
    joints = jnp.concatenate([xy, z[..., None]], axis=-1)
    visible = jnp.asarray(visible, jnp.float32)
    total = jnp.zeros(joints.shape[:-2], joints.dtype)
    for group in skeleton.BONE_GROUPS.values():
        bones, weights = _group_arrays(group)
        lengths = weights * _safe_norm(joints[..., bones[:, 0], :] - joints[..., bones[:, 1], :])
        mask = visible[..., bones[:, 0]] * visible[..., bones[:, 1]]
        count = jnp.sum(mask, axis=-1)
        safe_count = jnp.maximum(count, 1.0)
        mean_length = jnp.sum(mask * lengths, axis=-1) / safe_count
        spread = jnp.sum(mask * (lengths - mean_length[..., None]) ** 2, axis=-1) / safe_count
        total = total + jnp.where(count > 0, spread, 0.0)
    return total


def geometric_xy(target_heatmaps, pred_heatmaps):
    """2D joints for the geometric loss (SPEC 4), normalised to [-1, 1].

    The ground-truth heatmap's argmax, moved a quarter pixel toward the higher
    neighbour of the predicted heatmap, as the original trained.
    """
    res = target_heatmaps.shape[-2]
    indices, _ = geometry.heatmap_argmax(target_heatmaps)
    points = indices.astype(jnp.float32) + geometry.quarter_offset(pred_heatmaps, indices)
    return jax.lax.stop_gradient(points / res * 2.0 - 1.0)


def total_loss(outputs, targets, *, reg_weight, var_weight):
    """The weighted sum of SPEC 4 and its terms.

    Args:
      outputs: the model's dict: heatmaps [S, B, H, W, J], depth [B, J].
      targets: dict with heatmaps [B, H, W, J], depth [B, J], has_depth [B],
        visible [B, J].
      reg_weight: weight of the depth L2 on samples with depth.
      var_weight: weight of the geometric loss on samples without depth.
    Returns:
      (total, terms) where terms holds each unweighted term's batch mean.
    """
    has_depth = jnp.asarray(targets["has_depth"], jnp.float32)
    hm = heatmap_loss(outputs["heatmaps"], targets["heatmaps"])
    depth_l2 = depth_loss_per_sample(outputs["depth"], targets["depth"])
    xy = geometric_xy(targets["heatmaps"], outputs["heatmaps"][-1])
    geometric = geometric_loss_per_sample(xy, outputs["depth"], targets["visible"])
    batch = has_depth.shape[0]
    depth_term = jnp.sum(has_depth * depth_l2) / batch
    geometric_term = jnp.sum((1.0 - has_depth) * geometric) / batch
    total = hm + reg_weight * depth_term + var_weight * geometric_term
    terms = {
        "heatmap_loss": hm,
        "depth_loss": depth_term,
        "geometric_loss": geometric_term,
    }
    return total, terms
