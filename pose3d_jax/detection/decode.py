"""The detector's raw tensors as detections, and their non-maximum suppression.

As MediaPipe's pose detection graph does (`mediapipe/modules/pose_detection/
pose_detection_cpu.pbtxt`, google-ai-edge/mediapipe@85c0cdc, lines 110-148):
`TensorsToDetectionsCalculator` with 12 values per anchor in x-first order
(`reverse_output_order: true`): face box centre x, y, width, height, then 4
keypoints (x, y), all in input pixels relative to the anchor, divided by the
224 scales and added to the anchor centre (`tensors_to_detections_calculator.cc`,
DecodeBoxes, lines 787-872); scores clipped to +-100 and passed through a sigmoid
(lines 434-443), kept above 0.5. Then `NonMaxSuppressionCalculator` with the
WEIGHTED algorithm at IoU 0.3 (`non_max_suppression_calculator.cc`, lines
336-420): the best remaining detection absorbs every one overlapping it by more
than the threshold (itself included), its box and keypoints becoming their
score-weighted mean, its score staying its own.

Keypoints (pose_detection_cpu.pbtxt, lines 28-31): 0 mid-hip centre, 1 a point
whose distance from it is the full body's radius, 2 mid-shoulder centre, 3 the
same for the upper body.
"""

import dataclasses

import numpy as np

from pose3d_jax.detection import anchors

COORD_SCALE = 224.0  # x_scale, y_scale, w_scale, h_scale
SCORE_CLIP = 100.0
MIN_SCORE = 0.5
NMS_IOU = 0.3
NUM_KEYPOINTS = 4
HIP, BODY_EDGE, SHOULDER, UPPER_BODY_EDGE = range(NUM_KEYPOINTS)


@dataclasses.dataclass(frozen=True)
class Detections:
    """N detections: `boxes` [N, 4] (xmin, ymin, xmax, ymax), `keypoints` [N, 4, 2]
    (x, y), `scores` [N] in (0, 1). Coordinates are normalised to the detector's input
    by `decode`, in image pixels after `detector.to_image`."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self):
        return len(self.scores)

    def take(self, index):
        return Detections(self.boxes[index], self.keypoints[index], self.scores[index])

    @staticmethod
    def concatenate(parts):
        parts = list(parts)
        if not parts:
            return empty()
        return Detections(
            *(np.concatenate(f) for f in zip(*map(dataclasses.astuple, parts), strict=True))
        )


def empty() -> Detections:
    return Detections(
        np.zeros((0, 4), np.float32), np.zeros((0, NUM_KEYPOINTS, 2), np.float32), np.zeros(0)
    )


def sigmoid_scores(raw_scores) -> np.ndarray:
    """[N] detection scores from the model's [N] or [N, 1] logits."""
    logits = np.clip(np.asarray(raw_scores, np.float64).reshape(-1), -SCORE_CLIP, SCORE_CLIP)
    return 1.0 / (1.0 + np.exp(-logits))


def decode(raw_boxes, raw_scores, min_score=MIN_SCORE) -> Detections:
    """The detections scoring above `min_score`, in coordinates normalised to the input."""
    raw_boxes = np.asarray(raw_boxes, np.float32).reshape(anchors.NUM_ANCHORS, -1)
    scores = sigmoid_scores(raw_scores)
    keep = np.flatnonzero(scores > min_score)
    centre_of_anchor = anchors.anchor_centres()[keep]
    values = raw_boxes[keep] / COORD_SCALE  # fixed anchor size: width and height are 1
    centre = values[:, 0:2] + centre_of_anchor
    half = values[:, 2:4] / 2.0
    keypoints = values[:, 4 : 4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2)
    keypoints = keypoints + centre_of_anchor[:, None, :]
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    return Detections(boxes, keypoints, scores[keep])


def iou(box, boxes) -> np.ndarray:
    """Intersection over union of one (xmin, ymin, xmax, ymax) box with each of `boxes`."""
    box, boxes = np.asarray(box, np.float64), np.asarray(boxes, np.float64).reshape(-1, 4)
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def box_overlap(detections, threshold=NMS_IOU):
    """The same-object test of MediaPipe's suppression: face boxes' IoU over `threshold`."""
    return lambda best, others: iou(detections.boxes[best], detections.boxes[others]) > threshold


def weighted_nms(detections, threshold=NMS_IOU, same=None) -> Detections:
    """MediaPipe's WEIGHTED non-maximum suppression, best score first.

    same(best, others) -> [len(others)] bool says which detections are the same object
    as `best` (default: box_overlap at `threshold`); a group's boxes and keypoints are
    averaged, weighted by score.
    """
    same = same or box_overlap(detections, threshold)
    remaining = np.argsort(-detections.scores, kind="stable")
    out_boxes, out_points, out_scores = [], [], []
    while remaining.size:
        best = remaining[0]
        overlap = np.asarray(same(best, remaining), bool)
        overlap[0] = True
        group = remaining[overlap]
        weights = detections.scores[group] / detections.scores[group].sum()
        out_boxes.append(np.tensordot(weights, detections.boxes[group], axes=1))
        out_points.append(np.tensordot(weights, detections.keypoints[group], axes=1))
        out_scores.append(detections.scores[best])
        remaining = remaining[~overlap]
    if not out_scores:
        return empty()
    return Detections(np.stack(out_boxes), np.stack(out_points), np.asarray(out_scores))
