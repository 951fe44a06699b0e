"""Training augmentation and target rendering on the device (SPEC 3).

The host only decodes JPEGs; cropping, scaling, rotation, flipping, the colour
gain and the heatmap targets happen here, in JAX, so they run on the
accelerator inside jit or pmap. Everything is a pure function of a PRNG key and
the batch (no Python control flow on traced values), so a key reproduces an
augmentation exactly.

All coordinates follow geometry's convention (pixel i covers [i, i + 1)). The
stored image is mapped to the network input by one affine matrix into which the
horizontal flip is composed, so each image is warped once.
"""

import jax
import jax.numpy as jnp

from pose3d_jax import geometry, skeleton

NUM_CHANNELS = 3
# The original's rnd(x) clips a N(0, x) draw at two standard deviations.
CLIP_SIGMAS = 2.0
# Batch keys that augment_batch and prepare_eval_batch read.
INPUT_KEYS = ("image", "joints_2d", "visible", "depth", "has_depth", "center", "scale")


def identity_params(batch_size):
    """Augmentation parameters that leave every sample as the centred crop."""
    return {
        "scale": jnp.ones((batch_size,), jnp.float32),
        "rotation": jnp.zeros((batch_size,), jnp.float32),
        "flip": jnp.zeros((batch_size,), bool),
        "gain": jnp.ones((batch_size, NUM_CHANNELS), jnp.float32),
    }


def _clipped_normal(key, shape, std):
    return jnp.clip(jax.random.normal(key, shape) * std, -CLIP_SIGMAS * std, CLIP_SIGMAS * std)


def sample_augmentation(
    key,
    batch_size,
    *,
    scale_factor=0.25,
    rotation_factor=30.0,
    rotation_prob=0.4,
    flip_prob=0.5,
    color_low=0.6,
    color_high=1.4,
    enabled=None,
):
    """Draws per-sample augmentation parameters as the original MPII loader did.

    Args:
      key: a jax.random key; the same key gives the same parameters.
      batch_size: number of samples B (static).
      scale_factor: the box scale is multiplied by 2^clip(N(0,1) * scale_factor,
        +-2 scale_factor) (> 1 zooms out).
      rotation_factor: the rotation is clip(N(0,1) * rotation_factor,
        +-2 rotation_factor) degrees with probability rotation_prob, else 0.
      rotation_prob: the original rotated 40% of the samples.
      flip_prob: probability of a horizontal flip.
      color_low, color_high: range of the uniform per-channel colour gain.
      enabled: optional bool [B]; samples with False get identity parameters
        (the original never augmented Human3.6M samples).
    Returns:
      dict with 'scale' [B], 'rotation' [B] (degrees), 'flip' [B] bool, 'gain' [B, 3].
    """
    k_scale, k_rot, k_rot_on, k_flip, k_gain = jax.random.split(key, 5)
    shape = (batch_size,)
    rotate = jax.random.bernoulli(k_rot_on, rotation_prob, shape)
    params = {
        "scale": 2.0 ** _clipped_normal(k_scale, shape, scale_factor),
        "rotation": jnp.where(rotate, _clipped_normal(k_rot, shape, rotation_factor), 0.0),
        "flip": jax.random.bernoulli(k_flip, flip_prob, shape),
        "gain": jax.random.uniform(
            k_gain, (batch_size, NUM_CHANNELS), minval=color_low, maxval=color_high
        ),
    }
    if enabled is None:
        return params
    enabled = jnp.asarray(enabled, bool)

    def select(value, identity):
        mask = enabled.reshape(enabled.shape + (1,) * (value.ndim - 1))
        return jnp.where(mask, value, identity)

    return jax.tree.map(select, params, identity_params(batch_size))


def input_matrix(center, scale, params, input_res):
    """Stored image -> network input maps [B, 2, 3], with the flip composed in.

    The flip mirrors the crop, x -> input_res - x, which in the continuous
    pixel convention is exactly a left-right reversal of the pixel columns.
    """
    matrix = geometry.crop_matrix(
        center, scale * params["scale"], input_res, params["rotation"], xp=jnp
    )
    mirror = jnp.array([[-1.0, 0.0, input_res], [0.0, 1.0, 0.0]], jnp.float32)
    flipped = geometry.compose_affine(mirror, matrix, xp=jnp)
    return jnp.where(params["flip"][:, None, None], flipped, matrix)


def _swap_sides(values, flip):
    """Gives each joint its flip partner's value ([B, J, ...]) where flip is set."""
    swapped = values[:, jnp.asarray(skeleton.FLIP_PERMUTATION)]
    mask = flip.reshape(flip.shape + (1,) * (values.ndim - 1))
    return jnp.where(mask, swapped, values)


def _targets(joints_2d, annotated, matrix, flip, input_res, heatmap_res):
    """Joints in heatmap pixels, their visibility and their Gaussian heatmaps.

    A joint is visible when it is annotated and the pixel holding it lies in
    the heatmap, so that exactly the visible joints have non-empty heatmaps
    (SPEC 4's definition) and each decodes back to its own pixel.
    """
    joints = jnp.where(annotated[..., None], joints_2d, 0.0)  # no NaN from missing joints
    points = geometry.apply_affine(matrix, joints, xp=jnp) * (heatmap_res / input_res)
    points = _swap_sides(points, flip)
    annotated = _swap_sides(annotated, flip)
    pixel = jnp.floor(points)
    inside = jnp.all((pixel >= 0) & (pixel < heatmap_res), axis=-1)
    visible = annotated & inside
    points = jnp.where(annotated[..., None], points, 0.0)
    return points, visible, geometry.render_heatmaps(points, visible, heatmap_res)


def _computed_once(values):
    """`values` [..., C] unchanged, but computed once rather than per pixel.

    XLA fuses a cheap per-sample value such as the colour gain, with the random
    draw behind it, into every output pixel (3x slower on CPU, where
    lax.optimization_barrier is dropped); a reduction is not fused into its
    consumer, and adding exact zeros leaves the values exact.
    """
    eye = jnp.eye(values.shape[-1], dtype=values.dtype)
    return jnp.sum(values[..., None] * eye, axis=-2)


def _inputs(image, matrix, gain, input_res):
    """Warped image in [0, 1] with the per-channel gain, clipped as the original."""
    warped = geometry.batched_warp_image(image, matrix, input_res)
    gain = _computed_once(gain) / 255.0
    return jnp.clip(warped * gain[:, None, None, :], 0.0, 1.0)


def apply_augmentation(batch, params, *, input_res=256, heatmap_res=64):
    """Network inputs and targets of `batch` under given augmentation parameters.

    Args:
      batch: dict of arrays with INPUT_KEYS: image uint8 [B, S, S, 3], joints_2d
        [B, J, 2] and center [B, 2] in stored-image pixels, visible [B, J] bool
        (annotated), depth [B, J], has_depth [B], scale [B].
      params: as returned by sample_augmentation.
      input_res, heatmap_res: side of the network input and of its heatmaps.
    Returns:
      dict: inputs float32 [B, input_res, input_res, 3] in [0, 1]; heatmaps
      [B, heatmap_res, heatmap_res, J]; joints_2d [B, J, 2] in heatmap pixels
      (zeros where not annotated); visible [B, J]; depth [B, J] (joints swapped
      on a flip, rescaled with the box so it stays in crop units); has_depth [B];
      matrix [B, 2, 3] from stored-image pixels to input pixels, flip included
      (predictions of a flipped sample map back with left and right swapped).
    """
    matrix = input_matrix(batch["center"], batch["scale"], params, input_res)
    annotated = jnp.asarray(batch["visible"], bool)
    points, visible, heatmaps = _targets(
        batch["joints_2d"], annotated, matrix, params["flip"], input_res, heatmap_res
    )
    depth = _swap_sides(jnp.asarray(batch["depth"], jnp.float32), params["flip"])
    return {
        "inputs": _inputs(batch["image"], matrix, params["gain"], input_res),
        "heatmaps": heatmaps,
        "joints_2d": points,
        "visible": visible,
        "depth": depth / params["scale"][:, None],
        "has_depth": jnp.asarray(batch["has_depth"], bool),
        "matrix": matrix,
    }


def augment_batch(key, batch, *, input_res=256, heatmap_res=64, augment_3d=False, **aug):
    """Randomly augmented inputs and targets for one training batch (SPEC 3).

    Args:
      key: jax.random key (fold in the device index under pmap).
      batch: see apply_augmentation.
      input_res, heatmap_res: side of the network input and of its heatmaps.
      augment_3d: also augment samples with depth; off by default because the
        original never augmented Human3.6M.
      **aug: ranges forwarded to sample_augmentation (scale_factor, ...).
    Returns:
      the dict of apply_augmentation.
    """
    has_depth = jnp.asarray(batch["has_depth"], bool)
    enabled = jnp.logical_or(jnp.logical_not(has_depth), augment_3d)
    params = sample_augmentation(key, has_depth.shape[0], enabled=enabled, **aug)
    return apply_augmentation(batch, params, input_res=input_res, heatmap_res=heatmap_res)


def prepare_eval_batch(batch, *, input_res=256, heatmap_res=64):
    """Deterministic centred crops and targets for evaluation and inference.

    Args and Returns: as apply_augmentation, without randomness.
    """
    params = identity_params(jnp.shape(batch["scale"])[0])
    return apply_augmentation(batch, params, input_res=input_res, heatmap_res=heatmap_res)
