"""Which detection is which track: the assignment of highest total box overlap.

Hungarian assignment (scipy's linear_sum_assignment) on the IoU of each track's
predicted box with each detection's box; pairs below `min_iou` are not matched.
"""

from scipy.optimize import linear_sum_assignment

from pose3d_jax.tracking import boxes


def match(track_boxes, detection_boxes, min_iou=0.3):
    """(pairs [(track i, detection j)], unmatched track indices, unmatched detection indices)
    for [N, 4] and [M, 4] (x, y, w, h) boxes."""
    n, m = len(track_boxes), len(detection_boxes)
    if n == 0 or m == 0:
        return [], list(range(n)), list(range(m))
    overlap = boxes.iou_matrix(track_boxes, detection_boxes)
    rows, cols = linear_sum_assignment(-overlap)
    pairs = [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if overlap[i, j] >= min_iou]
    tracks_left = sorted(set(range(n)) - {i for i, _ in pairs})
    detections_left = sorted(set(range(m)) - {j for _, j in pairs})
    return pairs, tracks_left, detections_left
