"""The notebook-facing predictor: images in, 2D and 3D joints out.

    from pose3d_jax import Predictor
    predictor = Predictor.from_checkpoint(None)      # or a path
    result = predictor("photo.jpg")                  # or an HxWxC RGB array
    result.joints_2d, result.confidence, result.joints_3d_mm, result.joint_names

As in the original demo the person is assumed centred (centre = image centre,
box side = the image's longer side) unless a box is given or detection is
asked for. Cropping happens on the host with OpenCV, because user images
differ in size; the network runs jitted on padded fixed-size batches.
"""

import dataclasses
import os
import warnings

import cv2
import numpy as np

from pose3d_jax import geometry, image_io, network, skeleton

DEFAULT_BATCH_SIZE = 8
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


# What the numbers of a Prediction mean, written into every JSON result.
CONVENTIONS = {
    "joints_2d": "original-image pixels (x, y); pixel i spans [i, i + 1), its centre is i + 0.5",
    "confidence": "heatmap maximum per joint (higher is surer; not a probability)",
    "joints_3d_mm": (
        "millimetres relative to the pelvis, camera axes (x right, y down, z away from the "
        "camera), scaled so the 14 bones sum to the Human3.6M mean skeleton "
        f"({skeleton.MEAN_SKELETON_BONE_SUM_MM:.0f} mm): the true size is unknown"
    ),
}


@dataclasses.dataclass(frozen=True)
class Crop:
    """The square region fed to the network: centre (x, y) and scale (side / 200), in
    original-image pixels; `source` says how it was chosen (centred, bbox, detected)."""

    center: tuple[float, float]
    scale: float
    source: str
    note: str = ""

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
        return out


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One person's pose.

    Attributes:
      joint_names: the 16 joint names (skeleton.JOINT_NAMES).
      joints_2d: [16, 2] (x, y) in original-image pixels (pixel i spans [i, i + 1)).
      confidence: [16] heatmap maxima (higher is surer; not a probability).
      joints_3d_mm: [16, 3] pelvis-relative, camera axes (x right, y down, z away),
        scaled so the 14 bones sum to the H36M mean skeleton (the true size is unknown).
      crop: the Crop that was used.
      image_size: (width, height) of the image.
    """

    joint_names: tuple[str, ...]
    joints_2d: np.ndarray
    confidence: np.ndarray
    joints_3d_mm: np.ndarray
    crop: Crop
    image_size: tuple[int, int]

    def to_dict(self):
        """A JSON-ready dict."""
        return {
            "joint_names": list(self.joint_names),
            "image_size": list(self.image_size),
            "joints_2d": np.round(self.joints_2d, 3).tolist(),
            "confidence": np.round(self.confidence, 5).tolist(),
            "joints_3d_mm": np.round(self.joints_3d_mm, 2).tolist(),
            "root_joint": skeleton.JOINT_NAMES[skeleton.EVAL_ROOT],
            "crop": self.crop.to_dict(),
            "conventions": CONVENTIONS,
        }


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
                return box_crop(box, "detected", DETECTION_MARGIN)
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


class Predictor:
    """Runs a restored network on images; see the module docstring."""

    def __init__(self, loaded: network.Network, batch_size=DEFAULT_BATCH_SIZE, max_pixels=None):
        self.network = loaded
        self.batch_size = int(batch_size)
        self.max_pixels = image_io.DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
        self._forward = network.make_forward(loaded.model)

    @classmethod
    def from_checkpoint(cls, path=None, **kwargs):
        """A Predictor for the checkpoint at `path` (default place when None).

        Raises:
          checkpoint.CheckpointError: saying how to get or fix a checkpoint.
        """
        return cls(network.load_network(path), **kwargs)

    def load(self, image):
        """An image argument (path or array) as RGB uint8 [H, W, 3]."""
        if isinstance(image, (str, os.PathLike)):
            return image_io.load_image(image, self.max_pixels)
        return image_io.to_rgb_uint8(np.asarray(image))  # NumPy, PIL, JAX arrays

    def __call__(self, image, bbox=None, *, detect=False) -> Prediction:
        """The pose in one image (a path or an HxWxC RGB array); bbox is [x, y, w, h]."""
        return self.predict_batch([image], None if bbox is None else [bbox], detect=detect)[0]

    def predict_batch(self, images, bboxes=None, *, detect=False) -> list[Prediction]:
        """Poses of several images, batch_size at a time (one compile per batch shape)."""
        images = [self.load(image) for image in images]
        bboxes = [None] * len(images) if bboxes is None else list(bboxes)
        crops = [choose_crop(im, b, detect) for im, b in zip(images, bboxes, strict=True)]
        for crop in crops:
            if crop.note:
                warnings.warn(crop.note, stacklevel=2)
        return self.predict_crops(images, crops)

    def predict_crops(self, images, crops, *, pad_to=None) -> list[Prediction]:
        """Poses for loaded RGB uint8 images and their chosen crops.

        Batches are padded to `pad_to` (default: min(batch_size, len(images))),
        so a caller feeding a stream in pieces compiles one shape only.
        """
        pairs = list(zip(images, crops, strict=True))
        results = []
        chunk = pad_to or max(1, min(self.batch_size, len(pairs)))
        for start in range(0, len(pairs), chunk):
            results.extend(self._run(pairs[start : start + chunk], chunk))
        return results

    def _run(self, part, padded_size):
        res = self.network.input_res
        cropped = [crop_image(image, crop, res) for image, crop in part]
        inputs = np.zeros((padded_size, res, res, 3), np.float32)
        inputs[: len(part)] = np.stack([c for c, _ in cropped]).astype(np.float32) / 255.0
        inputs = network.to_network_input(inputs, self.network.input_convention, xp=np)
        out = {k: np.asarray(v) for k, v in self._forward(self.network.variables, inputs).items()}
        matrices = np.stack([m for _, m in cropped])
        n = len(part)
        joints_2d = network.heatmap_to_image(
            out["points"][:n], matrices, heatmap_res=self.network.heatmap_res, input_res=res
        )
        joints_3d = network.joints_3d_mm(
            out["points"][:n], out["depth"][:n], self.network.heatmap_res
        )
        return [
            Prediction(
                joint_names=skeleton.JOINT_NAMES,
                joints_2d=joints_2d[i],
                confidence=out["confidence"][i],
                joints_3d_mm=joints_3d[i],
                crop=crop,
                image_size=(image.shape[1], image.shape[0]),
            )
            for i, (image, crop) in enumerate(part)
        ]
