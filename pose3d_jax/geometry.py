"""Crop geometry, heatmap rendering and decoding, and 2D/3D assembly (SPEC 3, 6).

Coordinate convention used everywhere in the project: continuous pixel
coordinates in which pixel index i covers [i, i + 1), so its centre is i + 0.5.
A heatmap at 1/4 of the input resolution therefore maps by a plain factor 4.

The affine helpers take `xp` (NumPy by default, `jax.numpy` inside jit) so that
the host (dataset builders, inference) and the device (augmentation) share one
implementation. Importing this module does not import JAX: the ONNX Runtime
start of `infer` runs without it (~1.5 s saved); the functions that compute on
the device import jax.numpy when called, and the decoders default to it.
"""

import numpy as np

from pose3d_jax import skeleton

BOX_PIXELS_PER_SCALE = 200.0  # a person's box side is 200 * scale pixels
HEATMAP_SIGMA = 1.0
HEATMAP_RADIUS = 3  # 7x7 support


def _jnp():
    import jax.numpy as jnp

    return jnp


def crop_matrix(center, scale, res, rotation_deg=0.0, xp=np):
    """2x3 affine map from image pixels to a res x res crop (SPEC 3).

    Scales by res / (200 scale), moves `center` to the crop centre and rotates
    by `rotation_deg` about the crop centre (positive turns the picture
    counter-clockwise, as in the original). Works batched: center [..., 2],
    scale and rotation_deg [...], result [..., 2, 3].
    """
    center = xp.asarray(center, dtype=xp.float32)
    scale = xp.asarray(scale, dtype=xp.float32)
    rotation = xp.asarray(rotation_deg, dtype=xp.float32) * (np.pi / 180.0)
    k = res / (BOX_PIXELS_PER_SCALE * scale)
    cos, sin = xp.cos(rotation) * k, xp.sin(rotation) * k
    half = res / 2.0
    cx, cy = center[..., 0], center[..., 1]
    # [[cos, sin], [-sin, cos]] applied to (p - center), then + half.
    row0 = xp.stack([cos, sin, half - cos * cx - sin * cy], axis=-1)
    row1 = xp.stack([-sin, cos, half + sin * cx - cos * cy], axis=-1)
    return xp.stack([row0, row1], axis=-2)


def invert_affine(matrix, xp=np):
    """Inverse of a 2x3 affine map (batched over leading axes)."""
    matrix = xp.asarray(matrix)
    a, b, tx = matrix[..., 0, 0], matrix[..., 0, 1], matrix[..., 0, 2]
    c, d, ty = matrix[..., 1, 0], matrix[..., 1, 1], matrix[..., 1, 2]
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    row0 = xp.stack([ia, ib, -(ia * tx + ib * ty)], axis=-1)
    row1 = xp.stack([ic, id_, -(ic * tx + id_ * ty)], axis=-1)
    return xp.stack([row0, row1], axis=-2)


def apply_affine(matrix, points, xp=np):
    """Maps points [..., N, 2] through matrix [..., 2, 3]."""
    points = xp.asarray(points)
    linear = matrix[..., :2]
    offset = matrix[..., 2]
    return xp.einsum("...ij,...nj->...ni", linear, points) + offset[..., None, :]


def compose_affine(outer, inner, xp=np):
    """The affine map `outer(inner(p))` as one 2x3 matrix."""
    lo, li = outer[..., :2], inner[..., :2]
    linear = xp.einsum("...ij,...jk->...ik", lo, li)
    offset = xp.einsum("...ij,...j->...i", lo, inner[..., 2]) + outer[..., 2]
    return xp.concatenate([linear, offset[..., None]], axis=-1)


def to_opencv_matrix(matrix):
    """Converts a map in this project's convention (pixel centres at i + 0.5) to
    OpenCV's (centres at i), for cv2.warpAffine."""
    matrix = np.asarray(matrix, dtype=np.float64)
    out = matrix.copy()
    out[..., 2] = matrix[..., 2] + 0.5 * (matrix[..., 0] + matrix[..., 1]) - 0.5
    return out


def render_heatmaps(points, visible, res, sigma=HEATMAP_SIGMA):
    """Gaussian target heatmaps [..., res, res, J] (SPEC 3).

    Each visible joint gets a Gaussian of peak 1 centred on the pixel that holds
    the point, cut to a 7x7 support; an invisible joint gets zeros. points are
    [..., J, 2] in heatmap pixels (x, y), visible is [..., J] (bool).
    """
    jnp = _jnp()
    points = jnp.asarray(points, jnp.float32)
    peak = jnp.floor(points)  # [..., J, 2]
    grid = jnp.arange(res, dtype=jnp.float32)
    dx = grid - peak[..., 0, None]  # [..., J, res] along x
    dy = grid - peak[..., 1, None]
    gx = jnp.where(jnp.abs(dx) <= HEATMAP_RADIUS, jnp.exp(-(dx**2) / (2 * sigma**2)), 0.0)
    gy = jnp.where(jnp.abs(dy) <= HEATMAP_RADIUS, jnp.exp(-(dy**2) / (2 * sigma**2)), 0.0)
    gx = jnp.swapaxes(gx, -1, -2)  # [..., res(x), J]
    gy = jnp.swapaxes(gy, -1, -2)  # [..., res(y), J]
    maps = gy[..., :, None, :] * gx[..., None, :, :]  # [..., y, x, J]
    return maps * jnp.asarray(visible, jnp.float32)[..., None, None, :]


def heatmap_argmax(heatmaps, xp=None):
    """Integer (x, y) of each heatmap's maximum and the maximum itself.

    heatmaps [..., H, W, J] -> (indices [..., J, 2] int32, maxvals [..., J]).
    """
    xp = _jnp() if xp is None else xp
    width = heatmaps.shape[-2]
    flat = xp.moveaxis(heatmaps, -1, -3).reshape(heatmaps.shape[:-3] + (heatmaps.shape[-1], -1))
    index = xp.argmax(flat, axis=-1)
    maxvals = xp.max(flat, axis=-1)
    xy = xp.stack([index % width, index // width], axis=-1).astype(xp.int32)
    return xy, maxvals


def quarter_offset(heatmaps, indices, xp=None):
    """The +-0.25 px step toward the higher neighbour, 0 on the border.

    heatmaps [..., H, W, J], indices [..., J, 2] -> offsets [..., J, 2].
    """
    xp = _jnp() if xp is None else xp
    height, width = heatmaps.shape[-3], heatmaps.shape[-2]
    flat = xp.moveaxis(heatmaps, -1, -3).reshape(heatmaps.shape[:-3] + (heatmaps.shape[-1], -1))
    x, y = indices[..., 0], indices[..., 1]
    inside = (x > 0) & (x < width - 1) & (y > 0) & (y < height - 1)
    xc, yc = xp.clip(x, 1, width - 2), xp.clip(y, 1, height - 2)

    def value(xs, ys):
        return xp.take_along_axis(flat, (ys * width + xs)[..., None], axis=-1)[..., 0]

    step_x = xp.sign(value(xc + 1, yc) - value(xc - 1, yc))
    step_y = xp.sign(value(xc, yc + 1) - value(xc, yc - 1))
    offset = 0.25 * xp.stack([step_x, step_y], axis=-1)
    return xp.where(inside[..., None], offset, 0.0).astype(xp.float32)


def decode_heatmaps(heatmaps, xp=None):
    """2D joints from heatmaps (SPEC 6): argmax, quarter-pixel refinement, +0.5.

    heatmaps [..., H, W, J] -> (points [..., J, 2] in heatmap pixels, maxvals [..., J]).
    `xp` is jax.numpy (inside jit) or NumPy (host-side outputs of another runtime).
    """
    xp = _jnp() if xp is None else xp
    heatmaps = xp.asarray(heatmaps, xp.float32)
    indices, maxvals = heatmap_argmax(heatmaps, xp)
    points = indices.astype(xp.float32) + quarter_offset(heatmaps, indices, xp) + 0.5
    return points, maxvals


def joints_3d_from_outputs(points, depth, heatmap_res=64, xp=None):
    """3D joints in heatmap-pixel units: (x, y) decoded, z = (depth + 1) * res / 2."""
    xp = _jnp() if xp is None else xp
    z = (xp.asarray(depth) + 1.0) * (heatmap_res / 2.0)
    return xp.concatenate([xp.asarray(points), z[..., None]], axis=-1)


def heatmap_accuracy(pred_heatmaps, target_heatmaps, visible, threshold=0.5):
    """Training-time 2D accuracy: share of visible accuracy joints whose decoded
    prediction lies within threshold * res / 10 of the decoded target.

    Returns (hits, count) so that batches and devices can be summed.
    """
    jnp = _jnp()
    res = pred_heatmaps.shape[-2]
    pred, _ = decode_heatmaps(pred_heatmaps)
    target, _ = decode_heatmaps(target_heatmaps)
    joints = jnp.asarray(skeleton.ACCURACY_JOINTS)
    dist = jnp.linalg.norm(pred - target, axis=-1)[..., joints] / (res / 10.0)
    mask = jnp.asarray(visible, jnp.float32)[..., joints]
    hits = jnp.sum((dist < threshold) * mask)
    return hits, jnp.sum(mask)


def scale_to_bone_sum(joints, bone_sum, root=skeleton.EVAL_ROOT, xp=np):
    """Root-relative joints [..., 16, 3] scaled so the 14 bone lengths sum to bone_sum."""
    joints = xp.asarray(joints)
    rel = joints - joints[..., root : root + 1, :]
    a = rel[..., [b[0] for b in skeleton.BONES], :]
    b = rel[..., [b[1] for b in skeleton.BONES], :]
    current = xp.sum(xp.linalg.norm(a - b, axis=-1), axis=-1)
    factor = xp.asarray(bone_sum) / xp.maximum(current, 1e-8)
    return rel * factor[..., None, None]


def warp_image(image, matrix, out_size):
    """Bilinear warp (JAX): out[p] = image[inverse(matrix)(p)], zeros outside.

    image [H, W, C], matrix [2, 3] mapping image pixels to output pixels (this
    project's convention); returns [out_size, out_size, C] float32.
    """
    jnp = _jnp()
    height, width = image.shape[0], image.shape[1]
    inverse = invert_affine(matrix, xp=jnp)
    grid = jnp.arange(out_size, dtype=jnp.float32) + 0.5
    gx, gy = jnp.meshgrid(grid, grid)
    src_x = inverse[0, 0] * gx + inverse[0, 1] * gy + inverse[0, 2] - 0.5
    src_y = inverse[1, 0] * gx + inverse[1, 1] * gy + inverse[1, 2] - 0.5
    x0, y0 = jnp.floor(src_x), jnp.floor(src_y)
    wx, wy = src_x - x0, src_y - y0
    image = image.astype(jnp.float32)

    def tap(xs, ys):
        valid = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
        xi = jnp.clip(xs, 0, width - 1).astype(jnp.int32)
        yi = jnp.clip(ys, 0, height - 1).astype(jnp.int32)
        return image[yi, xi] * valid[..., None]

    top = tap(x0, y0) * (1 - wx)[..., None] + tap(x0 + 1, y0) * wx[..., None]
    bottom = tap(x0, y0 + 1) * (1 - wx)[..., None] + tap(x0 + 1, y0 + 1) * wx[..., None]
    return top * (1 - wy)[..., None] + bottom * wy[..., None]


def batched_warp_image(images, matrices, out_size):
    """warp_image over a batch of images and matrices ([B, H, W, C], [B, 2, 3])."""
    import jax

    return jax.vmap(warp_image, in_axes=(0, 0, None))(images, matrices, out_size)
