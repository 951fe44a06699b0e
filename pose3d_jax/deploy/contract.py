"""What a consumer of an exported network needs to know, in one JSON-ready dict.

Every export (ONNX, StableHLO, SavedModel, OpenVINO IR) computes the same function: an image
crop in, the last stack's heatmaps and the depths out. The dict below says how
to make the input, what the outputs mean and what the weights were trained on;
it travels inside the artifact (ONNX metadata) or beside it (a JSON file).
"""

from importlib import metadata as importlib_metadata

from pose3d_jax import checkpoint, skeleton

CONTRACT_VERSION = 1
CONTRACT_KEY = "pose3d_contract"  # ONNX metadata key / SavedModel asset name stem


def package_version() -> str:
    try:
        return importlib_metadata.version("pose3d_jax")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def contract(network, *, fmt, batch) -> dict:
    """The contract of `network` (a model.network.Network) exported as `fmt`.

    Args:
      fmt: 'onnx', 'stablehlo', 'savedmodel' or 'openvino'.
      batch: the fixed batch size, or None for a dynamic batch dimension.
    """
    res, hm = network.input_res, network.heatmap_res
    batch_dim = "batch" if batch is None else int(batch)
    meta = network.meta
    return {
        "contract_version": CONTRACT_VERSION,
        "producer": f"pose3d_jax {package_version()}",
        "format": fmt,
        "network": "stacked hourglass with depth regression (Zhou et al., ICCV 2017)",
        "input": {
            "name": "image",
            "shape": [batch_dim, res, res, 3],
            "dtype": "float32",
            "layout": "NHWC",
            "meaning": (
                f"a {res}x{res} crop around the person, RGB, 8-bit values divided by 255 "
                "(so [0, 1]); the checkpoint's own channel order and divisor are applied "
                "inside the graph. Crop: a square of side 200 * scale pixels centred on the "
                f"person, resized to {res} (SPEC 3)."
            ),
        },
        "outputs": {
            "heatmaps": {
                "shape": [batch_dim, hm, hm, len(skeleton.JOINT_NAMES)],
                "dtype": "float32",
                "meaning": (
                    "the last stack's joint heatmaps; joint j is at the argmax of channel j, "
                    "moved 0.25 px toward the higher neighbour in x and y, plus 0.5 "
                    f"(heatmap pixels; x {res // hm} = crop pixels); the maximum is the "
                    "joint's confidence"
                ),
            },
            "depth": {
                "shape": [batch_dim, len(skeleton.JOINT_NAMES)],
                "dtype": "float32",
                "meaning": (
                    "per-joint depth relative to the pelvis, in units of half the heatmap "
                    f"side: z_heatmap_px = (depth + 1) * {hm / 2:g}; the metric scale is "
                    "unknown (scale the 14 bones to the mean skeleton, "
                    f"{skeleton.MEAN_SKELETON_BONE_SUM_MM:.0f} mm)"
                ),
            },
        },
        "joint_names": list(skeleton.JOINT_NAMES),
        "checkpoint_input_convention": dict(meta["input"]),
        "model": dict(meta["model"]),
        "provenance": {
            "kind": checkpoint.provenance_kind(meta),
            "warning": checkpoint.provenance_warning(meta),
            "source": meta.get("source"),
        },
        "checkpoint": None if network.step_dir is None else str(network.step_dir),
    }
