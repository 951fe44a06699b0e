"""Large frames with one synthetic person anywhere in them, and short clips of one.

For the localisation benchmark and the video tests: unlike the dataset
generators, the person is not centred in a crop but placed at a random
position and size in a frame of a photo's or video's size.
"""

from dataclasses import dataclass

import numpy as np

from datasets.synthetic import body, render, scene

FOCAL_PX = 1000.0
DEPTH_MM = 5000.0


@dataclass
class WildFrame:
    """A frame (RGB uint8 [H, W, 3]), its person's 16 joints in pixels (H36M style)
    and the person's tight box [x, y, w, h] around those joints."""

    image: np.ndarray
    joints_2d: np.ndarray
    box: np.ndarray


def _joints(person):
    return body.our_joints(person.uv, body.H36M_STYLE)


def place_person(person, height_px, centre):
    """The person scaled so its joints span `height_px` vertically, centred at `centre`."""
    joints = _joints(person)
    lo, hi = joints.min(axis=0), joints.max(axis=0)
    zoom = height_px / max(hi[1] - lo[1], 1e-6)
    offset = np.asarray(centre, float) - zoom * (lo + hi) / 2.0
    return person.warped(zoom, offset)


def tight_box(joints_2d):
    lo, hi = joints_2d.min(axis=0), joints_2d.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def render_frame(rng, background, person, palette):
    image = render.draw(background.copy(), person.items(palette))
    joints = _joints(person)
    return WildFrame(render.add_grain(image, rng), joints, tight_box(joints))


def random_person(rng):
    return scene.random_person(rng, (0.0, 0.0, DEPTH_MM), FOCAL_PX, (0.0, 0.0))


def random_scene(rng, width, height, height_fraction, *, near_border=False):
    """One frame: a person `height_fraction` of the frame's height tall, at a random
    place (with near_border, its box touches within 5% of a random frame edge)."""
    person = random_person(rng)
    height_px = height_fraction * height
    half_w = 0.5 * height_px * 0.6  # about the width of a standing person's joints
    lo = np.array([half_w, height_px / 2])
    hi = np.array([width - half_w, height - height_px / 2])
    centre = rng.uniform(lo, np.maximum(hi, lo + 1))
    if near_border:
        axis = int(rng.integers(0, 2))
        centre[axis] = (lo if rng.random() < 0.5 else hi)[axis]
    placed = place_person(person, height_px, centre)
    return render_frame(
        rng, render.background(rng, height, width), placed, render.person_palette(rng)
    )


def random_clip(rng, num_frames, width=640, height=480, height_fraction=0.5):
    """A clip of one person walking across the frame, the pose changing smoothly
    (a blend between two random poses), the background fixed."""
    background = render.background(rng, height, width)
    palette = render.person_palette(rng)
    start, end = random_person(rng), random_person(rng)
    height_px = height_fraction * height
    x0, x1 = 0.3 * width, 0.7 * width
    frames = []
    for i in range(num_frames):
        t = i / max(num_frames - 1, 1)
        mixed = scene.Person(
            {k: (1 - t) * start.camera[k] + t * end.camera[k] for k in start.camera},
            {k: (1 - t) * start.uv[k] + t * end.uv[k] for k in start.uv},
            {k: (1 - t) * start.ppm[k] + t * end.ppm[k] for k in start.ppm},
        )
        centre = ((1 - t) * x0 + t * x1, height / 2)
        frames.append(
            render_frame(rng, background, place_person(mixed, height_px, centre), palette)
        )
    return frames
