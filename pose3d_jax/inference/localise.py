"""Finding the person in a whole frame with the pose network itself (no detector).

The network's heatmap maxima say how surely it sees each joint, so a crop that
holds a whole person at the scale it was trained on scores high. Square windows
at a few sizes slide over the frame; the best few (far enough apart) are each
refined for a few rounds: the crop is re-centred and re-sized on the joints it
found (their extent, enlarged as the training crops are), and predicted again.
The best-scoring crop of all rounds wins. Costs windows + rounds x candidates
network runs: about 130 windows on a 16:9 frame with the defaults.
"""

import dataclasses

import numpy as np

from pose3d_jax import geometry
from pose3d_jax.inference.crops import Crop
from pose3d_jax.tracking import boxes

# Training crops of Human3.6M are the joints' square extent enlarged by 15% per side
# (datasets/synthetic/scene.py, SPEC 3); MPII's are 1.25 x the annotated person scale.
JOINTS_MARGIN = 1.3


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """How the frame is searched.

    Attributes:
      window_fractions: window sides as fractions of the frame's shorter side.
      stride_fraction: step between windows, as a fraction of their side.
      max_windows: the strides grow (up to the window side) to keep within this many.
      candidates: the best windows refined, each at least half a window from the others.
      refine_rounds: re-crops on each candidate's joints.
      relative_threshold: joints with confidence >= this x the best joint's set the box.
    """

    window_fractions: tuple = (0.22, 0.33, 0.5, 0.75, 1.0)
    stride_fraction: float = 0.5
    max_windows: int = 160
    candidates: int = 3
    refine_rounds: int = 3
    relative_threshold: float = 0.3


def _positions(length, side, stride):
    """Window starts along one axis: both ends covered, evenly spaced."""
    if side >= length:
        return [(length - side) / 2.0]
    count = int(np.ceil((length - side) / stride)) + 1
    return list(np.linspace(0.0, length - side, count))


def _grid(width, height, side, stride_fraction, budget):
    """Window corners of one size: the stride grows from stride_fraction x side until
    the grid fits `budget`, but never past the side (no gaps between windows)."""
    stride = stride_fraction * side
    while True:
        xs, ys = _positions(width, side, stride), _positions(height, side, stride)
        if len(xs) * len(ys) <= budget or stride >= side:
            return [(x, y) for y in ys for x in xs]
        stride = min(stride * 1.1, side)


def windows(width, height, settings=SearchSettings()):
    """The square search windows over a width x height frame, as Crops (the whole frame
    last). Larger sizes need few windows; what they leave of max_windows goes to the smaller."""
    shorter = min(width, height)
    sides = sorted((f * shorter for f in settings.window_fractions), reverse=True)
    crops, left = [], settings.max_windows
    for k, side in enumerate(sides):
        corners = _grid(width, height, side, settings.stride_fraction, left // (len(sides) - k))
        left = max(0, left - len(corners))
        scale = side / geometry.BOX_PIXELS_PER_SCALE
        crops.extend(Crop((x + side / 2.0, y + side / 2.0), scale, "window") for x, y in corners)
    longer = max(width, height)  # the whole frame, as the centred crop
    crops.append(
        Crop((width / 2.0, height / 2.0), longer / geometry.BOX_PIXELS_PER_SCALE, "window")
    )
    return crops


def crop_score(confidence):
    """A crop's score: the mean heatmap maximum over all joints (whole people score high)."""
    return float(np.mean(confidence))


def crop_from_joints(joints_2d, confidence, relative_threshold=0.3, margin=JOINTS_MARGIN):
    """A square Crop around the confident joints (all of them when fewer than 4 are)."""
    cx, cy, side = boxes.from_joints(joints_2d, confidence, relative_threshold, margin)
    return Crop((float(cx), float(cy)), side / geometry.BOX_PIXELS_PER_SCALE, "joints")


def _spread_best(crops, scores, count):
    """Indices of the best crops, each centre at least half a side from the others."""
    kept = []
    for i in np.argsort(scores)[::-1]:
        side = crops[i].scale * geometry.BOX_PIXELS_PER_SCALE
        far = all(
            np.hypot(*np.subtract(crops[i].center, crops[k].center)) >= 0.5 * side for k in kept
        )
        if far:
            kept.append(int(i))
        if len(kept) == count:
            break
    return kept


def localise(predict_crops, image, settings=SearchSettings()):
    """(best Crop, its prediction) of the person in `image` (RGB uint8 [H, W, 3]).

    predict_crops(images, crops) -> predictions with .joints_2d and .confidence
    (Predictor.predict_crops). The Crop's source is 'localised' and its details
    say how it was found.
    """
    height, width = image.shape[:2]
    search = windows(width, height, settings)
    predictions = predict_crops([image] * len(search), search)
    scores = [crop_score(p.confidence) for p in predictions]
    best = [
        (scores[i], search[i], predictions[i])
        for i in _spread_best(search, scores, settings.candidates)
    ]
    current = list(best)
    for _ in range(settings.refine_rounds):
        crops = [
            crop_from_joints(p.joints_2d, p.confidence, settings.relative_threshold)
            for _, _, p in current
        ]
        refined = predict_crops([image] * len(crops), crops)
        current = [(crop_score(p.confidence), c, p) for c, p in zip(crops, refined, strict=True)]
        best.extend(current)
    score, crop, prediction = max(best, key=lambda item: item[0])
    details = {
        "method": "network window search + refinement",
        "windows": len(search),
        "candidates": len(current),
        "refine_rounds": settings.refine_rounds,
        "score": round(score, 5),
    }
    found = dataclasses.replace(crop, source="localised", details=details)
    return found, dataclasses.replace(prediction, crop=found)
