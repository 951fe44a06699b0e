"""A person in front of a pinhole camera: the pieces every format generator uses."""

from dataclasses import dataclass

import numpy as np

from datasets.synthetic import body, render

BOX_MARGIN = 0.15  # each side of a person box, as a share of the joints' extent


@dataclass
class Person:
    """One posed person: named 3D points (camera frame, mm), their pixels and
    pixels-per-mm (for limb widths)."""

    camera: dict
    uv: dict
    ppm: dict

    def items(self, palette) -> list:
        depth = {name: xyz[2] for name, xyz in self.camera.items()}
        return render.person_items(self.uv, depth, self.ppm, palette)

    def warped(self, scale: float, offset) -> "Person":
        """The same person seen in a crop: pixels mapped by p * scale + offset."""
        uv = {name: p * scale + offset for name, p in self.uv.items()}
        ppm = {name: v * scale for name, v in self.ppm.items()}
        return Person(self.camera, uv, ppm)


def random_person(rng, translation, focal: float, principal) -> Person:
    """A random pose, heading and small tilt, pelvis at `translation` (mm)."""
    points = body.place(body.sample_pose(rng), body.global_rotation(rng), translation)
    uv, ppm = body.project(points, focal, principal)
    return Person(points, uv, ppm)


def translation_for_pixel(pixel, depth_mm: float, focal: float, principal) -> np.ndarray:
    """Camera-frame position (mm) at `depth_mm` that projects to `pixel`."""
    xy = (np.asarray(pixel, float) - np.asarray(principal, float)) * depth_mm / focal
    return np.array([xy[0], xy[1], depth_mm])


def square_box(person: Person, margin: float = BOX_MARGIN) -> tuple[int, int, int]:
    """(x1, y1, side) of a square box around the person, in whole pixels."""
    pts = np.stack(list(person.uv.values()))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    side = int(round((hi - lo).max() * (1.0 + 2.0 * margin)))
    x1, y1 = np.round((lo + hi) / 2.0 - side / 2.0).astype(int)
    return int(x1), int(y1), side
