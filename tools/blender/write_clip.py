"""Writes a generator clip as BVH (pose3d_jax.write_bvh) and its joints in BVH axes.

The joints file is what Blender's importer should reproduce: [frames, 16, 3] metres,
BVH axes (Y up), keyed by the BVH's joint names. Run with the project's environment:

    .venv/bin/python tools/blender/write_clip.py --clip turning --out /tmp/bvh_check
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from datasets.synthetic import motion as clips  # noqa: E402
from pose3d_jax import skeleton, write_bvh  # noqa: E402
from pose3d_jax.motion import bvh  # noqa: E402


def walked_clip(name: str, frames: int) -> np.ndarray:
    """The clip's camera-frame joints, its pelvis walking 1.5 m across the view."""
    poses = clips.clip(name, frames=frames)
    poses[..., 0] += np.linspace(-750.0, 750.0, frames)[:, None]
    return poses


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="turning", choices=("walking", "turning", "arms_raised"))
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    poses = walked_clip(args.clip, args.frames)
    pelvis = poses[:, skeleton.JOINT_INDEX["pelvis"]]
    path = write_bvh(args.out / f"{args.clip}.bvh", poses, args.fps, root_mm=pelvis, units="m")
    np.save(args.out / f"{args.clip}_joints.npy", poses @ bvh.CAMERA_TO_BVH.T / 1000.0)
    names = {"joint_names": list(skeleton.JOINT_NAMES), "bvh": str(path)}
    (args.out / f"{args.clip}_joints.json").write_text(json.dumps(names))
    print(path)


if __name__ == "__main__":
    main()
