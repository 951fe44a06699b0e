"""Scenes of real people: the release's person crops pasted into larger frames.

For the detector's tests and benchmarks. The frames of ../shared/data/images are
the original release's 256x256 person crops: each is centred on its person at the
training crop's size (SPEC 3: 1.25 times the annotated person scale for MPII), so
the square where a frame is pasted is its person's box as the network's crop
would be (`truth`). Frames are pasted at random sizes and places without covering
one another, some reaching over a border, on a smooth random background with
grain; clips move the pastes along straight lines.
"""

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from pose3d_jax.tracking.boxes import iou as box_iou

# Frames showing one person (the others show a second, smaller or cut, person too:
# mpii_2 a man at the right edge, mpii_28 and mpii_65 people behind, mpii_87 two women).
SINGLE_PERSON = (
    "h36m_1214",
    "h36m_1554",
    "mpi_inf_3dhp_1456",
    "mpi_inf_3dhp_1564",
    "mpi_inf_3dhp_354",
    "mpii_14",
    "mpii_44",
    "mpii_47",
)


@dataclasses.dataclass(frozen=True)
class Scene:
    """An RGB uint8 frame, the names of its pasted frames and their squares
    [K, 4] (x, y, w, h) in the frame's pixels (partly outside it near a border)."""

    image: np.ndarray
    names: tuple[str, ...]
    truth: np.ndarray


def load_frames(folder, names=SINGLE_PERSON) -> dict[str, np.ndarray]:
    """{name: RGB uint8 [256, 256, 3]} of the release frames in `folder`."""
    frames = {}
    for name in names:
        path = Path(folder) / f"{name}.png"
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"no readable frame '{path}'")
        frames[name] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return frames


def background(rng, width, height) -> np.ndarray:
    """A smooth random colour field with grain (no person-like structure)."""
    coarse = rng.uniform(40, 215, size=(3, 4, 3)).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    field += rng.normal(0.0, 6.0, size=field.shape).astype(np.float32)
    return np.clip(field, 0, 255).astype(np.uint8)


def paste(canvas, frame, box):
    """Draws `frame` resized to the square `box` (x, y, side) onto `canvas`, clipped."""
    x, y, side = (int(round(v)) for v in box)
    tile = cv2.resize(frame, (side, side), interpolation=cv2.INTER_AREA)
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, w), min(y + side, h)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = tile[y0 - y : y1 - y, x0 - x : x1 - x]
    return canvas


def _apart(box, placed, gap=4):
    x, y, s = box
    return all(
        x + s + gap <= px or px + ps + gap <= x or y + s + gap <= py or py + ps + gap <= y
        for px, py, ps in placed
    )


def random_boxes(
    rng, width, height, count, size_range=(0.3, 0.6), border_share=0.3, outside=0.25, tries=2000
):
    """`count` disjoint squares (x, y, side), sides a share of the frame's shorter side in
    `size_range`; each reaches over a random border by up to `outside` of its side with
    probability `border_share`."""
    placed = []
    for _ in range(tries):
        if len(placed) == count:
            break
        side = rng.uniform(*size_range) * min(width, height)
        x, y = rng.uniform(0, width - side), rng.uniform(0, height - side)
        if rng.random() < border_share:
            over = rng.uniform(0.05, outside) * side
            edge = rng.integers(4)
            x = -over if edge == 0 else (width - side + over if edge == 1 else x)
            y = -over if edge == 2 else (height - side + over if edge == 3 else y)
        if _apart((x, y, side), placed):
            placed.append((x, y, side))
    if len(placed) < count:
        raise ValueError(f"could not place {count} squares in {width}x{height}")
    return placed


def random_scene(rng, frames, width, height, count, **placement) -> Scene:
    """`count` distinct frames of `frames` pasted into a `width` x `height` background."""
    names = tuple(rng.choice(sorted(frames), size=count, replace=False))
    boxes = random_boxes(rng, width, height, count, **placement)
    image = background(rng, width, height)
    for name, box in zip(names, boxes, strict=True):
        paste(image, frames[name], box)
    truth = np.array([[x, y, s, s] for x, y, s in boxes], np.float64)
    return Scene(image, names, truth)


def crossing_clip(rng, frames, width=960, height=540, length=40, side=0.55):
    """Two people walking across each other: [Scene] of `length` frames.

    A moves left to right, B right to left, B lower by a third of a side, so at the
    crossing B covers the lower part of A, and they end apart on swapped sides.
    """
    a_name, b_name = rng.choice(sorted(frames), size=2, replace=False)
    s = side * height
    y_a, y_b = 0.1 * height, 0.1 * height + s / 3
    x_from, x_to = 0.02 * width, width - s - 0.02 * width
    bg = background(rng, width, height)
    clip = []
    for t in np.linspace(0.0, 1.0, length):
        x_a, x_b = x_from + t * (x_to - x_from), x_to - t * (x_to - x_from)
        image = paste(bg.copy(), frames[a_name], (x_a, y_a, s))
        image = paste(image, frames[b_name], (x_b, y_b, s))  # B in front
        truth = np.array([[x_a, y_a, s, s], [x_b, y_b, s, s]])
        clip.append(Scene(image, (a_name, b_name), truth))
    return clip


def clip_box(box, width, height):
    """An [x, y, w, h] box cut to the frame [0, width] x [0, height]."""
    x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
    x1, y1 = min(box[0] + box[2], width), min(box[1] + box[3], height)
    return [x0, y0, max(x1 - x0, 0.0), max(y1 - y0, 0.0)]


def match(truth, found, size=None, threshold=0.5):
    """(hits [K] bool, false positives) of `found` boxes against the `truth` boxes,
    greedily by IoU (each found box matches at most one truth). With `size` (width,
    height) both are first cut to the frame: of a person reaching over a border only
    the part in view is compared."""
    if size is not None:
        truth = [clip_box(t, *size) for t in truth]
        found = [clip_box(f, *size) for f in found]
    pairs = sorted(
        ((box_iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)),
        reverse=True,
    )
    hit, used = np.zeros(len(truth), bool), set()
    for value, i, j in pairs:
        if value >= threshold and not hit[i] and j not in used:
            hit[i] = True
            used.add(j)
    return hit, len(found) - len(used)
