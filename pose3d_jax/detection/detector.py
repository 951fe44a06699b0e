"""People in an image: BlazePose's person detector run by LiteRT over the image's windows.

Why LiteRT (`ai-edge-litert`): it is Google's maintained runtime for .tflite models
(TensorFlow's own `tf.lite.Interpreter` is deprecated in its favour), it runs the
model with the same XNNPACK kernels MediaPipe uses (~7 ms per 224x224 view on our
2-core CPU), and it imports in 0.1 s without TensorFlow (importing tensorflow takes
seconds, more than the whole warm `infer` of one photo).

Per view the detections are decoded and suppressed as MediaPipe's graph does
(decode.py); mapped to image pixels, a view's detections of people it sees cut or at a
size it detects badly are dropped, and the rest are suppressed once more across views,
comparing head boxes sized by each person's body (one person seen by several views is
one person; two people side by side have apart heads even when their bodies overlap).
Tuned on scenes of the real frames of ../shared/data/images (benchmarks/localisation.py):
of 8 single-person frames pasted 2-4 at a time, 97% found, 0.4-0.45 false positives per
frame, most of them real people at a frame's edge or a person's box placed badly.
A person's box is MediaPipe's region of interest
(`mediapipe/modules/pose_landmark/pose_detection_to_roi.pbtxt`, lines 10-44;
`alignment_points_to_rects_calculator.cc`, lines 66-100): centred on the mid-hip
keypoint, side twice its distance to the body keypoint, times 1.25, square.
"""

import contextlib
import dataclasses
import os
import sys
import tempfile

import numpy as np

from pose3d_jax.detection import anchors, decode, model_file, windows

ROI_SCALE = 1.25  # RectTransformationCalculator scale_x, scale_y in pose_detection_to_roi.pbtxt
HEAD_BOX_FRACTION = 0.7  # the head box's side in the cross-view suppression, of the body radius
# A tile's detection is kept when the person's box is this share of the tile's side: a
# person much smaller or larger than the view is sized and placed badly (whole-image
# views are always kept: they are the only ones that hold the largest people).
TILE_PERSON_SIZE = (0.5, 1.4)
# A view's detection is kept when the view holds at least this share of the person's box
# within the image: one cut by a tile's edge is sized and placed badly.
MIN_VISIBLE_SHARE = 0.6
DEFAULT_MIN_SCORE = decode.MIN_SCORE
LITERT_INFO = "INFO: Created TensorFlow Lite XNNPACK delegate"


@dataclasses.dataclass(frozen=True)
class Person:
    """A detected person, in image pixels.

    box: [x, y, w, h] the square region of interest (MediaPipe's, 1.25 x the body circle);
    score: the detector's score in (0, 1); keypoints: [4, 2] mid-hip, body-radius point,
    mid-shoulder, upper-body point; rotation_deg: the body's tilt from upright (the
    mid-hip -> body-point vector against straight up, counter-clockwise positive).
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray
    rotation_deg: float

    def to_dict(self):
        return {
            "box_xywh": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "keypoints": np.round(self.keypoints, 2).tolist(),
            "rotation_deg": round(float(self.rotation_deg), 2),
        }


def person_from_keypoints(keypoints, score) -> Person:
    """The square region of interest around one detection's keypoints (image pixels)."""
    hip, edge = keypoints[decode.HIP], keypoints[decode.BODY_EDGE]
    side = 2.0 * float(np.linalg.norm(edge - hip)) * ROI_SCALE
    dx, dy = edge - hip
    rotation = np.degrees(np.arctan2(-dy, dx)) - 90.0  # up the image is 90 degrees
    rotation = (rotation + 180.0) % 360.0 - 180.0
    box = (hip[0] - side / 2, hip[1] - side / 2, side, side)
    return Person(box, float(score), np.asarray(keypoints, np.float64), float(rotation))


def head_boxes(detections) -> np.ndarray:
    """[N, 4] squares around each face centre, their side HEAD_BOX_FRACTION of the body
    radius: the views see a person at different sizes, so the face boxes of fixed view
    size (0.2 of the view) do not compare across views."""
    centre = (detections.boxes[:, :2] + detections.boxes[:, 2:]) / 2.0
    radius = np.linalg.norm(
        detections.keypoints[:, decode.BODY_EDGE] - detections.keypoints[:, decode.HIP], axis=1
    )
    half = (HEAD_BOX_FRACTION * radius / 2.0)[:, None]
    return np.concatenate([centre - half, centre + half], axis=1)


def same_person(detections, threshold=decode.NMS_IOU):
    """The cross-view same-person test: head boxes overlapping by more than `threshold`
    IoU (two people side by side keep apart heads even when their bodies overlap)."""
    heads = head_boxes(detections)
    return lambda best, others: decode.iou(heads[best], heads[others]) > threshold


def roi_squares(detections) -> np.ndarray:
    """[N, 4] (xmin, ymin, xmax, ymax) of each detection's region of interest."""
    hip = detections.keypoints[:, decode.HIP]
    half = ROI_SCALE * np.linalg.norm(detections.keypoints[:, decode.BODY_EDGE] - hip, axis=1)
    return np.concatenate([hip - half[:, None], hip + half[:, None]], axis=1)


def _area(boxes):
    return np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None), axis=1)


def _clip(boxes, lo, hi):
    return np.concatenate([np.maximum(boxes[:, :2], lo), np.minimum(boxes[:, 2:], hi)], axis=1)


def visible_share(detections, window, width, height) -> np.ndarray:
    """[N]: the share of each person's box inside the image that the view holds."""
    in_image = _clip(roi_squares(detections), (0.0, 0.0), (float(width), float(height)))
    side = window.side()
    in_view = _clip(in_image, (window.x0, window.y0), (window.x0 + side, window.y0 + side))
    return _area(in_view) / np.maximum(_area(in_image), 1e-9)


def well_seen(detections, window, width, height) -> np.ndarray:
    """[N] bool: the view holds the person whole enough (MIN_VISIBLE_SHARE) and, for a
    tile, at a size it detects well (TILE_PERSON_SIZE)."""
    keep = visible_share(detections, window, width, height) >= MIN_VISIBLE_SHARE
    if window.level == 0:
        return keep
    roi = roi_squares(detections)
    size = (roi[:, 2] - roi[:, 0]) / window.side()
    return keep & (size >= TILE_PERSON_SIZE[0]) & (size <= TILE_PERSON_SIZE[1])


def to_image(found, window) -> decode.Detections:
    """A view's detections (normalised to its input) in image pixels."""
    size = windows.INPUT_SIZE
    corners = window.to_image(found.boxes.reshape(-1, 2, 2) * size).reshape(-1, 4)
    return decode.Detections(corners, window.to_image(found.keypoints * size), found.scores)


@contextlib.contextmanager
def _without_litert_info():
    """Drops LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." line, which
    its C++ logger writes to the process's stderr (no setting turns it off); anything
    else written meanwhile is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode(errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if LITERT_INFO not in line]
            sys.stderr.write("".join(kept))


class PersonDetector:
    """Finds every person in RGB uint8 images; see the module docstring."""

    def __init__(
        self,
        model_path=None,
        *,
        threads=None,
        min_score=DEFAULT_MIN_SCORE,
        min_person=windows.MIN_PERSON_FRACTION,
    ):
        """model_path: the .tflite (default: model_file.default_path()); min_score: the
        detector's score threshold; min_person: the smallest person to look for, as a share
        of the image's shorter side (smaller means more tiles: 0.2 -> 42 views of a 16:9
        frame, ~0.25 s on 2 cores)."""
        from ai_edge_litert.interpreter import Interpreter

        if not 0.0 < min_score < 1.0:
            raise ValueError(f"the detector's min_score must be in (0, 1), got {min_score}")
        if not 0.02 <= min_person <= 1.0:
            raise ValueError(
                f"min_person must be in [0.02, 1] of the shorter side, got {min_person}"
            )
        self.model_path = model_file.checked_model(model_path)
        self.min_score, self.min_person = float(min_score), float(min_person)
        threads = threads or max(1, os.cpu_count() or 1)
        try:
            with _without_litert_info():
                self.interpreter = self._open(Interpreter, threads)
        except (ValueError, RuntimeError) as err:
            raise model_file.DetectorError(
                f"LiteRT cannot open the person detector '{self.model_path}' ({err}); "
                f"{model_file.FIX}"
            ) from err
        self._input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        by_width = {int(d["shape"][-1]): d["index"] for d in outputs}
        self._boxes, self._scores = by_width[decode.NUM_KEYPOINTS * 2 + 4], by_width[1]

    def _open(self, interpreter_class, threads):
        interpreter = interpreter_class(model_path=str(self.model_path), num_threads=threads)
        interpreter.allocate_tensors()
        return interpreter

    def raw(self, views) -> tuple[np.ndarray, np.ndarray]:
        """The model's ([K, 2254, 12], [K, 2254]) outputs for [K, 224, 224, 3] float inputs,
        one view per call (batches of 4 or 8 views were no faster on 2 cores, 8 slower)."""
        boxes, scores = [], []
        for view in np.asarray(views, np.float32):
            self.interpreter.set_tensor(self._input, view[None])
            self.interpreter.invoke()
            boxes.append(self.interpreter.get_tensor(self._boxes)[0])
            scores.append(self.interpreter.get_tensor(self._scores)[0, :, 0])
        if not boxes:
            return np.zeros((0, anchors.NUM_ANCHORS, 12), np.float32), np.zeros(
                (0, anchors.NUM_ANCHORS)
            )
        return np.stack(boxes), np.stack(scores)

    def detections(self, image) -> decode.Detections:
        """Every view's well-seen detections in image pixels, suppressed across views."""
        tiles, views = windows.cut(image, windows.level_sides(*image.shape[1::-1], self.min_person))
        height, width = image.shape[:2]
        found = []
        for raw_boxes, raw_scores, view in zip(
            *self.raw(windows.to_input(tiles)), views, strict=True
        ):
            per_view = decode.weighted_nms(decode.decode(raw_boxes, raw_scores, self.min_score))
            in_image = to_image(per_view, view)
            found.append(in_image.take(well_seen(in_image, view, width, height)))
        merged = decode.Detections.concatenate(found)
        return decode.weighted_nms(merged, same=same_person(merged))

    def __call__(self, image, max_people=None) -> list[Person]:
        """The people in RGB uint8 `image`, sorted left to right (at most `max_people`,
        the best scoring kept)."""
        found = self.detections(image)
        people = [
            person_from_keypoints(k, s) for k, s in zip(found.keypoints, found.scores, strict=True)
        ]
        people.sort(key=lambda p: -p.score)
        if max_people is not None:
            people = people[:max_people]
        return sorted(people, key=lambda p: p.box[0] + p.box[2] / 2)
