"""The BVH files of a video's tracks (`infer --bvh`): each track's poses gathered, one file each.

Frames a track missed between its first and last are interpolated (motion.bvh.fill_gaps);
the root moves with the camera-frame pelvis when metric 3D is known (--fov or
--intrinsics), else it stands still. Each file is written whole or not at all.
"""

import dataclasses
from pathlib import Path

import numpy as np

from pose3d_jax import skeleton
from pose3d_jax.motion import bvh


@dataclasses.dataclass(frozen=True)
class AnimationSettings:
    skeleton_name: str = "mpii16"
    units: str = "m"


class TrackAnimations:
    """Collects each track's 3D joints per frame; write() makes NAME_trackID.bvh each."""

    def __init__(self, settings: AnimationSettings):
        self.settings, self.tracks = settings, {}

    def add(self, frame_index, person):
        """One tracking.tracker.TrackedPerson (with its Prediction) seen on a frame."""
        p = person.result
        track = self.tracks.setdefault(person.track_id, {"frames": [], "poses": [], "root": []})
        track["frames"].append(frame_index)
        track["poses"].append(p.joints_3d_mm)
        camera = p.joints_3d_camera_mm
        track["root"].append(None if camera is None else camera[skeleton.EVAL_ROOT])

    def write(self, out_dir, name, fps) -> dict:
        """{track_id: file name} of the BVH written per track."""
        written = {}
        for track_id, track in sorted(self.tracks.items()):
            frames, poses = bvh.fill_gaps(track["frames"], track["poses"])
            root = None
            if all(r is not None for r in track["root"]):
                _, root = bvh.fill_gaps(track["frames"], np.stack(track["root"])[:, None])
                root = root[:, 0]
            path = Path(out_dir) / f"{name}_track{track_id}.bvh"
            bvh.write_bvh(
                path, poses, fps, skeleton=self.settings.skeleton_name, root_mm=root,
                units=self.settings.units,
            )  # fmt: skip
            written[track_id] = {"file": path.name, "first_frame": int(frames[0]),
                                 "frames": len(frames)}  # fmt: skip
        return written
