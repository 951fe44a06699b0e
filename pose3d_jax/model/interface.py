"""The network's interface on the host: what it is fed and what its outputs mean.

The input convention and resolution a checkpoint records, test-time flip's
mirroring, and the decoding of heatmaps and depths into 2D joints in image
pixels and 3D joints in millimetres. All of it is array math with `xp` (NumPy,
or jax.numpy inside jit) and imports neither JAX nor flax, so an engine that
runs the network elsewhere (ONNX Runtime) decodes with the same code as XLA.
"""

import dataclasses
from pathlib import Path

import numpy as np

from pose3d_jax import geometry, skeleton

DEFAULT_INPUT_RES = 256
HEATMAP_STRIDE = 4  # heatmap pixels * 4 = input pixels


@dataclasses.dataclass(frozen=True)
class NetworkInfo:
    """What a checkpoint says about its network, without its weights.

    Attributes:
      meta: the checkpoint's meta dict.
      step_dir: the checkpoint step directory (None if built in memory).
      input_res: side of the square network input (pixels).
    """

    meta: dict
    step_dir: Path | None
    input_res: int

    @property
    def heatmap_res(self) -> int:
        return self.input_res // HEATMAP_STRIDE

    @property
    def input_convention(self) -> dict:
        return self.meta["input"]


def input_res_of(meta) -> int:
    """Network input side recorded in a checkpoint's meta (256 when absent)."""
    return int(meta.get("input", {}).get("res", DEFAULT_INPUT_RES))


def to_network_input(images_rgb01, convention, xp=np):
    """Images in [0, 1], RGB, to the checkpoint's convention (channel order, divisor).

    [0, 1] RGB is x / 255 of 8-bit values; a BGR/256 checkpoint wants x / 256 in
    BGR order, so it gets the channels reversed and 255 / 256 of the value.
    """
    images = xp.asarray(images_rgb01, xp.float32)
    if convention["channel_order"] == "bgr":
        images = images[..., ::-1]
    return images * (255.0 / float(convention["divisor"]))


def mirror_outputs(outputs, xp=np):
    """Outputs of a mirrored image mapped back to the image: heatmaps mirrored in x,
    left and right joints swapped (skeleton.FLIP_PERMUTATION), depths swapped."""
    perm = np.asarray(skeleton.FLIP_PERMUTATION)
    heatmaps = xp.asarray(outputs["heatmaps"])[..., :, ::-1, :]
    return {"heatmaps": heatmaps[..., perm], "depth": xp.asarray(outputs["depth"])[..., perm]}


def flip_average(outputs, mirrored_outputs, xp=np):
    """Test-time flip: the mean of an image's outputs and its mirror's, mapped back."""
    back = mirror_outputs(mirrored_outputs, xp)
    return {k: 0.5 * (xp.asarray(outputs[k]) + back[k]) for k in ("heatmaps", "depth")}


def decode_outputs(outputs, xp=np):
    """{'points' [B, J, 2] heatmap px, 'confidence' [B, J], 'depth' [B, J]} from the
    last stack's heatmaps and depths (of XLA or of an exported network)."""
    points, maxvals = geometry.decode_heatmaps(outputs["heatmaps"], xp=xp)
    return {"points": points, "confidence": maxvals, "depth": xp.asarray(outputs["depth"])}


def heatmap_to_image(points, image_to_input, *, heatmap_res, input_res, xp=np):
    """Heatmap pixels -> input pixels (x input_res / heatmap_res) -> image pixels.

    Args:
      points: [..., J, 2] in heatmap pixels.
      image_to_input: [..., 2, 3] affine map from the image that was cropped to
        the network input (e.g. a batch's `matrix`).
    Returns:
      [..., J, 2] in that image's pixels.
    """
    points = xp.asarray(points) * (input_res / heatmap_res)
    return geometry.apply_affine(geometry.invert_affine(image_to_input, xp=xp), points, xp=xp)


def to_original_pixels(points, image_to_input, to_original, *, heatmap_res, input_res, xp=np):
    """Heatmap pixels -> stored image pixels -> original image pixels (`to_original`)."""
    stored = heatmap_to_image(
        points, image_to_input, heatmap_res=heatmap_res, input_res=input_res, xp=xp
    )
    return geometry.apply_affine(xp.asarray(to_original), stored, xp=xp)


def joints_3d_mm(points, depth, heatmap_res):
    """Pelvis-relative 3D joints [..., J, 3] in mm, scaled to the mean skeleton.

    The network's scale is unknown, so (as the H36M protocol does) the pose is
    scaled so its 14 bones sum to the H36M training set's mean skeleton. Axes
    follow the camera: x right, y down, z away from the camera.
    """
    joints = geometry.joints_3d_from_outputs(
        np.asarray(points, np.float64), np.asarray(depth, np.float64), heatmap_res, xp=np
    )
    return geometry.scale_to_bone_sum(joints, skeleton.MEAN_SKELETON_BONE_SUM_MM)
