"""Drawing synthetic people and backgrounds with OpenCV (BGR, uint8).

Each body part has its own colour, left and right differ (a flip is learnable),
and each limb half is shaded by its joint's depth (nearer is brighter), so that
2D positions and relative depth can both be read from the pixels. Parts are
painted far to near. Points are in continuous pixels (pixel i covers [i, i+1));
OpenCV puts pixel centres at integers, hence the half-pixel shift below.
"""

import cv2
import numpy as np

SUBPIXEL_BITS = 4  # OpenCV fixed-point drawing: coordinates * 2**4
DEPTH_GAIN = 0.7  # brightness change per metre in front of / behind the pelvis
SHADE_RANGE = (0.35, 1.6)
COLOUR_JITTER = 20

# name: (joint a, joint b, radius mm, BGR colour). Right: warm colours, left: cool.
LIMBS = {
    "right_thigh": ("right_hip", "right_knee", 65, (40, 200, 230)),
    "right_shin": ("right_knee", "right_ankle", 50, (20, 120, 220)),
    "right_upper_arm": ("right_shoulder", "right_elbow", 45, (40, 40, 210)),
    "right_forearm": ("right_elbow", "right_wrist", 38, (120, 80, 240)),
    "left_thigh": ("left_hip", "left_knee", 65, (80, 200, 40)),
    "left_shin": ("left_knee", "left_ankle", 50, (150, 150, 20)),
    "left_upper_arm": ("left_shoulder", "left_elbow", 45, (210, 80, 30)),
    "left_forearm": ("left_elbow", "left_wrist", 38, (230, 170, 90)),
    "neck": ("neck", "head_centre", 45, (110, 140, 180)),
}
# Torso halves as polygons; the head as a disc.
TORSO = {
    "right_torso": (("right_hip", "pelvis", "neck", "right_shoulder"), (120, 60, 170)),
    "left_torso": (("pelvis", "left_hip", "left_shoulder", "neck"), (150, 110, 60)),
}
HEAD = ("head_centre", 105, (140, 180, 225))


def _fixed(points) -> np.ndarray:
    """Continuous pixel coordinates -> OpenCV fixed-point integers."""
    return np.round((np.asarray(points) - 0.5) * (1 << SUBPIXEL_BITS)).astype(np.int32)


def _point(xy) -> tuple:
    return tuple(int(v) for v in _fixed(xy))


def _shade(colour, depth, reference) -> tuple:
    gain = np.clip(1.0 + DEPTH_GAIN * (reference - depth) / 1000.0, *SHADE_RANGE)
    return tuple(float(c) for c in np.clip(np.asarray(colour) * gain, 0, 255))


def person_palette(rng) -> dict:
    """Per-person colours: the fixed part colours, slightly jittered."""
    parts = {n: v[3] for n, v in LIMBS.items()} | {n: v[1] for n, v in TORSO.items()}
    parts["head"] = HEAD[2]
    jitter = lambda c: tuple(
        np.clip(np.add(c, rng.integers(-COLOUR_JITTER, COLOUR_JITTER, 3)), 0, 255)
    )
    return {name: jitter(colour) for name, colour in parts.items()}


def person_items(uv: dict, depth: dict, ppm: dict, palette: dict) -> list:
    """Drawable pieces of one person as (depth, kind, geometry, colour) tuples."""
    ref = depth["pelvis"]
    items = []
    for name, (a, b, radius, _) in LIMBS.items():
        mid = 0.5 * (uv[a] + uv[b])
        width = max(1, round(radius * (ppm[a] + ppm[b])))
        for end in (a, b):  # each half shaded by its own joint's depth
            z = 0.5 * (depth[end] + 0.5 * (depth[a] + depth[b]))
            items.append((z, "line", (uv[end], mid, width), _shade(palette[name], depth[end], ref)))
    for name, (corners, _) in TORSO.items():
        z = float(np.mean([depth[c] for c in corners]))
        poly = np.stack([uv[c] for c in corners])
        items.append((z, "poly", poly, _shade(palette[name], z, ref)))
    centre, radius, _ = HEAD
    head = (uv[centre], radius * ppm[centre])
    items.append((depth[centre], "disc", head, _shade(palette["head"], depth[centre], ref)))
    return items


def draw(image: np.ndarray, items: list) -> np.ndarray:
    """Paints items far to near onto `image` (in place) and returns it."""
    for _, kind, geom, colour in sorted(items, key=lambda item: -item[0]):
        if kind == "line":
            p, q, width = geom
            cv2.line(image, _point(p), _point(q), colour, width, cv2.LINE_AA, SUBPIXEL_BITS)
        elif kind == "poly":
            cv2.fillPoly(image, [_fixed(geom)], colour, cv2.LINE_AA, SUBPIXEL_BITS)
        else:
            centre, radius = geom
            r = max(1, round(radius * (1 << SUBPIXEL_BITS)))
            cv2.circle(image, _point(centre), r, colour, -1, cv2.LINE_AA, SUBPIXEL_BITS)
    return image


def background(rng, height: int, width: int, style: str = "random") -> np.ndarray:
    """A varied background: a colour gradient, rectangles, discs and noise.

    style "green" gives a green-screen studio (MPI-INF-3DHP TS1-2).
    """
    if style == "green":
        corners = np.array([[[60, 170, 40]]], np.uint8) + rng.integers(0, 30, (2, 2, 3))
    else:
        corners = rng.integers(0, 256, (2, 2, 3))
    image = cv2.resize(corners.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    for _ in range(rng.integers(0, 8 if style != "green" else 2)):
        x, y = rng.integers(0, width), rng.integers(0, height)
        w, h = (
            rng.integers(width // 20 + 1, width // 2 + 2),
            rng.integers(height // 20 + 1, height // 2 + 2),
        )
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.7:
            cv2.rectangle(image, (x, y), (x + w, y + h), colour, -1 if rng.random() < 0.7 else 3)
        else:
            cv2.circle(image, (x, y), int(min(w, h)) // 2, colour, -1, cv2.LINE_AA)
    coarse = rng.normal(0.0, 12.0, (height // 16 + 2, width // 16 + 2, 3)).astype(np.float32)
    noise = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def add_grain(image: np.ndarray, rng, sigma: float = 4.0) -> np.ndarray:
    """Fine sensor-like noise over the finished picture (deterministic for rng)."""
    grain = rng.normal(0.0, sigma, (image.shape[0] // 2 + 1, image.shape[1] // 2 + 1, 1))
    size = image.shape[1::-1]
    grain = cv2.resize(grain.astype(np.float32), size, interpolation=cv2.INTER_NEAREST)
    return np.clip(image.astype(np.float32) + grain[..., None], 0, 255).astype(np.uint8)
