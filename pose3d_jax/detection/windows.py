"""The square views of an image that the detector sees: the whole image, then tiles.

The detector's input is 224x224, letterboxed like MediaPipe's ImageToTensorCalculator
(`keep_aspect_ratio: true`, zero border, pose_detection_cpu.pbtxt lines 42-62). On a
whole large frame a person a quarter of its height tall is ~50 input pixels and is
missed (on the real frames of ../shared/data/images, pasted at 56 px into a 224 input,
the detector scored under 0.55 for 8 of 12; at 112 px, all above 0.8). So after the
whole image (level 0) come levels of overlapping square tiles, each level's side
`LEVEL_RATIO` of the one before, until the smallest person asked for spans
MIN_VIEW_SHARE of a tile; with half-overlapping tiles some tile then holds them whole.

Each level is one area-averaged resize of the image (no aliasing), cut into 224-pixel
tiles at integer positions of the resized image; pixels outside the image are zero
before the [-1, 1] scaling, as MediaPipe's BORDER_ZERO.
"""

import dataclasses

import cv2
import numpy as np

INPUT_SIZE = 224
LEVEL_RATIO = 0.7  # each tile level's side, of the level before
TILE_OVERLAP = 0.5  # share of a tile that its neighbour covers
# A person is found reliably when they span at least this share of a view's side
# (the real frames pasted at 90 of 224 pixels scored 0.55-0.99 for 11 of 12).
MIN_VIEW_SHARE = 0.4
MIN_PERSON_FRACTION = 0.2  # smallest person (their crop's side) to find, of the shorter side


@dataclasses.dataclass(frozen=True)
class Window:
    """A square view: image pixel (x, y) = (x0, y0) + input pixel / zoom (per axis).

    `zoom` is (sx, sy): input pixels per image pixel (equal up to the resize's rounding).
    """

    x0: float
    y0: float
    zoom: tuple[float, float]
    level: int

    def to_image(self, points_input_px) -> np.ndarray:
        """Input pixels [..., 2] -> image pixels."""
        p = np.asarray(points_input_px, np.float64)
        return np.stack(
            [self.x0 + p[..., 0] / self.zoom[0], self.y0 + p[..., 1] / self.zoom[1]], -1
        )

    def side(self) -> float:
        """The window's side in image pixels (mean of the two axes)."""
        return INPUT_SIZE * 0.5 * (1.0 / self.zoom[0] + 1.0 / self.zoom[1])


def _starts(length, tile, stride):
    """Tile starts covering [0, length) with tiles of `tile` at most `stride` apart."""
    if length <= tile:
        return [(length - tile) // 2]  # centred, the rest is border
    count = int(np.ceil((length - tile) / stride)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def level_sides(width, height, min_person_fraction=MIN_PERSON_FRACTION) -> list[float]:
    """The view side (image pixels) of each level: the whole image (its longer side),
    then tiles from the shorter side down, `LEVEL_RATIO` apart, the last the first in
    which a person of `min_person_fraction` of the shorter side spans MIN_VIEW_SHARE."""
    short = float(min(width, height))
    sides = [float(max(width, height))]
    smallest = min_person_fraction * short / MIN_VIEW_SHARE
    side = short
    while sides[-1] > smallest * (1.0 + 1e-6):
        if side < sides[-1] * (1.0 - 1e-6):
            sides.append(side)
        side *= LEVEL_RATIO
    return sides


def _resized(image, zoom):
    height, width = image.shape[:2]
    size = (max(1, round(width * zoom)), max(1, round(height * zoom)))
    method = cv2.INTER_AREA if zoom < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=method)


def _tile(resized, left, top):
    """The 224x224 view of `resized` at (left, top), zero outside it."""
    out = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    h, w = resized.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + INPUT_SIZE, w), min(top + INPUT_SIZE, h)
    if x1 > x0 and y1 > y0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = resized[y0:y1, x0:x1]
    return out


def cut(image, sides, overlap=TILE_OVERLAP):
    """([K, 224, 224, 3] uint8 views, [Window] * K) of an RGB uint8 image, at the
    levels of view side `sides` (level_sides)."""
    height, width = image.shape[:2]
    tiles, windows = [], []
    for level, side in enumerate(sides):
        resized = _resized(image, INPUT_SIZE / side)
        rh, rw = resized.shape[:2]
        zoom = (rw / width, rh / height)
        stride = max(1, round(INPUT_SIZE * (1.0 - overlap)))
        for top in _starts(rh, INPUT_SIZE, stride):
            for left in _starts(rw, INPUT_SIZE, stride):
                tiles.append(_tile(resized, left, top))
                windows.append(Window(left / zoom[0], top / zoom[1], zoom, level))
    return np.stack(tiles), windows


def to_input(tiles) -> np.ndarray:
    """uint8 views -> the detector's float32 input in [-1, 1]."""
    return np.asarray(tiles, np.float32) / 127.5 - 1.0
