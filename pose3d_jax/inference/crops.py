"""Which square of an image the network sees: centred, a given box, or a detection.

A Crop is a centre and a scale (box side / 200) in original-image pixels, as
in SPEC 3; `crop_image` cuts it out with OpenCV on the host, because user
images differ in size.
"""

import dataclasses

import cv2
import numpy as np

from pose3d_jax import geometry

# A user's box is taken as tight around the person; MPII training crops are 1.25 times
# the annotated person scale, so the crop gets the same margin.
BOX_MARGIN = 1.25
# A HOG window (64x128) already holds the person with about a third of margin.
DETECTION_MARGIN = 1.0
HOG_WINDOW = (64, 128)  # width, height; smaller inputs crash OpenCV's detectMultiScale
DETECT_MAX_SIDE = 800  # detection runs on a copy shrunk to this size, for speed
DETECT_PAD_FRACTION = 0.25  # border added on each side before detection, of the longer side
# Below this zoom the image is first shrunk with area averaging so the bilinear crop
# does not alias (the original demo also resized before cropping large images).
MIN_BILINEAR_ZOOM = 0.5


@dataclasses.dataclass(frozen=True)
class Crop:
    """The square region fed to the network: centre (x, y) and scale (side / 200), in
    original-image pixels; `source` says how it was chosen (centred, bbox, detected by the
    person detector, hog, localised by the network's search, tracked from a track's box or
    joints); `details` how (the search's settings and score, for instance)."""

    center: tuple[float, float]
    scale: float
    source: str
    note: str = ""
    details: dict | None = None

    def box(self):
        """The crop as [x, y, w, h] in original-image pixels."""
        side = self.scale * geometry.BOX_PIXELS_PER_SCALE
        return [self.center[0] - side / 2, self.center[1] - side / 2, side, side]

    def to_dict(self):
        out = {
            "source": self.source,
            "center": [round(float(v), 3) for v in self.center],
            "scale": round(float(self.scale), 5),
            "box_xywh": [round(float(v), 3) for v in self.box()],
        }
        if self.note:
            out["note"] = self.note
        if self.details:
            out["details"] = dict(self.details)
        return out


def centred_crop(width, height):
    """The original demo's crop: image centre, box side = the longer image side."""
    return Crop(
        (width / 2.0, height / 2.0), max(width, height) / geometry.BOX_PIXELS_PER_SCALE, "centred"
    )


def box_crop(box, source="bbox", margin=BOX_MARGIN):
    """A square crop around box [x, y, w, h] (original pixels), `margin` times its longer side."""
    x, y, w, h = (float(v) for v in box)
    if not (w > 0 and h > 0 and np.isfinite([x, y, w, h]).all()):
        raise ValueError(f"a box needs a positive width and height, got {list(box)}.")
    scale = margin * max(w, h) / geometry.BOX_PIXELS_PER_SCALE
    return Crop((x + w / 2.0, y + h / 2.0), scale, source)


def person_crop(person) -> Crop:
    """The crop of a detection.Person: its square box, as MediaPipe's pose landmark model
    is fed (1.25 x the body circle; the release's crops matched it at median IoU 0.7)."""
    return box_crop(person.box, "detected", margin=1.0)


def tracked_crop(box) -> Crop:
    """The crop of a track's square box [x, y, w, h] (the box itself, as person_crop)."""
    return box_crop(box, "tracked", margin=1.0)


def hog_available():
    """OpenCV 5 moved the HOG people detector to opencv-contrib (xobjdetect)."""
    return hasattr(cv2, "HOGDescriptor") and hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector")


def detect_person(image):
    """The highest-scoring person box [x, y, w, h] of OpenCV's HOG detector, or None.

    Runs on a copy resized so the longer side is at most DETECT_MAX_SIDE and
    both sides fit the detector window (smaller inputs crash OpenCV), with its
    border repeated around it: HOG needs a margin around the person and misses
    people who fill the picture (on the sample images: 9 of 12 found instead of 4).
    """
    height, width = image.shape[:2]
    win_w, win_h = HOG_WINDOW
    zoom = max(min(1.0, DETECT_MAX_SIDE / max(height, width)), win_h / height, win_w / width)
    size = (max(win_w, round(width * zoom)), max(win_h, round(height * zoom)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
    pad = round(DETECT_PAD_FRACTION * max(size))
    small = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    boxes, weights = hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
    if len(boxes) == 0:
        return None
    best = np.asarray(boxes, np.float64)[int(np.argmax(np.ravel(weights)))]
    best[:2] -= pad
    return best * np.array([width / size[0], height / size[1]] * 2)


def choose_crop(image, bbox=None, detect=False):
    """The crop for `image`: the given bbox, a detection, or the centred crop.

    A failed detection falls back to the centred crop; the returned Crop's
    note says why (callers show it as a warning).
    """
    height, width = image.shape[:2]
    if bbox is not None:
        return box_crop(bbox)
    if detect:
        if not hog_available():
            reason = (
                f"OpenCV {cv2.__version__} has no HOG people detector (OpenCV 5 moved it to "
                "opencv-contrib-python-headless)"
            )
        else:
            box = detect_person(image)
            if box is not None:
                return box_crop(box, "hog", DETECTION_MARGIN)
            reason = "the HOG detector found no person"
        note = f"{reason}; used the centred crop"
        return dataclasses.replace(centred_crop(width, height), note=note)
    return centred_crop(width, height)


def crop_image(image, crop, res):
    """(crop [res, res, 3] uint8, matrix original px -> crop px) for one Crop.

    Large zoom-outs first shrink the image with area averaging (no aliasing);
    pixels outside the image are black, as in training.
    """
    matrix = geometry.crop_matrix(crop.center, crop.scale, res).astype(np.float64)
    zoom = res / (crop.scale * geometry.BOX_PIXELS_PER_SCALE)
    source, warp = image, matrix
    if zoom < MIN_BILINEAR_ZOOM:
        height, width = image.shape[:2]
        new_w = max(1, round(width * zoom / MIN_BILINEAR_ZOOM))
        new_h = max(1, round(height * zoom / MIN_BILINEAR_ZOOM))
        source = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        unshrink = np.array([[width / new_w, 0, 0], [0, height / new_h, 0]], np.float64)
        warp = geometry.compose_affine(matrix, unshrink)
    out = cv2.warpAffine(
        source,
        geometry.to_opencv_matrix(warp),
        (res, res),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return out, matrix
