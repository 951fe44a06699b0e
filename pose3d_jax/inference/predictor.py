"""The notebook-facing predictor: images in, 2D and 3D joints out.

    from pose3d_jax import Predictor
    predictor = Predictor.from_checkpoint(None)      # or a path
    result = predictor("photo.jpg")                  # or an HxWxC RGB array
    result.joints_2d, result.confidence, result.joints_3d_mm, result.joint_names

`predictor.people(image)` returns every person the trained person detector finds
(pose3d_jax/detection), left to right. The one-person calls assume the person
centred (centre = image centre, box side = the image's longer side, as the original
demo) unless a box is given or detection is asked for: detect=True or "detector"
takes the detector's best person, "network" searches the frame with the network
itself (localise.py), "hog" uses OpenCV's HOG people detector (crops.py). The network runs on
padded fixed-size batches in XLA or ONNX Runtime (engines.py; `backend=`),
optionally with test-time flip (`flip=True`). A Predictor on ONNX Runtime whose
checkpoint was exported by an earlier start opens that export directly and
imports no JAX (onnx_engine.warm_start).
"""

import dataclasses
import os
import warnings

import numpy as np

from pose3d_jax import checkpoint, skeleton
from pose3d_jax.inference import engines, image_io
from pose3d_jax.inference import localise as localise_lib
from pose3d_jax.inference import precision as precision_lib
from pose3d_jax.inference.crops import Crop, choose_crop, crop_image, person_crop
from pose3d_jax.inference.records import CONVENTIONS
from pose3d_jax.model import interface
from pose3d_jax.motion import camera as camera_lib

DEFAULT_BATCH_SIZE = 8
DETECT_METHODS = ("detector", "network", "hog", "none")


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
      detection: the detection.Person the crop came from (box, score, keypoints), if any.
      joints_3d_camera_mm: [16, 3] in the camera's frame (mm) when the Predictor was given
        a camera (fov or intrinsics; motion/camera.py), else None.
      intrinsics: the motion.camera.Intrinsics used for it, else None.
    """

    joint_names: tuple[str, ...]
    joints_2d: np.ndarray
    confidence: np.ndarray
    joints_3d_mm: np.ndarray
    crop: Crop
    image_size: tuple[int, int]
    detection: object = None
    joints_3d_camera_mm: np.ndarray | None = None
    intrinsics: object = None

    def person_dict(self, skeleton_name="mpii16"):
        """The JSON entry of this person (schema: docs/schema/image.schema.json), its
        joints in the order `skeleton_name` (motion/skeletons.py)."""
        found = self.detection
        return {
            "box_xywh": None if found is None else found.to_dict()["box_xywh"],
            "detector_score": None if found is None else round(float(found.score), 4),
            "crop": self.crop.to_dict(),
            **joint_fields(self, skeleton_name, (3, 5, 2)),
        }

    def to_dict(self, skeleton_name="mpii16"):
        """A JSON-ready dict of this one person with the image's facts."""
        return {
            **skeleton_facts(skeleton_name),
            "image_size": list(self.image_size),
            **self.person_dict(skeleton_name),
            "root_joint": skeleton.JOINT_NAMES[skeleton.EVAL_ROOT],
            "conventions": CONVENTIONS,
        }


def joint_fields(result, skeleton_name, decimals) -> dict:
    """joints_2d, confidence, joints_3d_mm (and joints_3d_camera_mm when known) of a
    Prediction in the order `skeleton_name`, rounded to `decimals` (2D, confidence, 3D)."""
    from pose3d_jax.motion import skeletons

    def joints(values, places):
        return np.round(skeletons.convert(values, skeleton_name), places).tolist()

    confidence = skeletons.convert_confidence(result.confidence, skeleton_name)
    fields = {
        "joints_2d": joints(result.joints_2d, decimals[0]),
        "confidence": np.round(confidence, decimals[1]).tolist(),
        "joints_3d_mm": joints(result.joints_3d_mm, decimals[2]),
    }
    if result.joints_3d_camera_mm is not None:
        fields["joints_3d_camera_mm"] = joints(result.joints_3d_camera_mm, decimals[2])
    return fields


def skeleton_facts(skeleton_name) -> dict:
    """The JSON's joint_names, skeleton and derived_joints of a joint order."""
    from pose3d_jax.motion import skeletons

    order = skeletons.joint_order(skeleton_name)
    return {
        "joint_names": list(order.joint_names),
        "skeleton": order.name,
        "derived_joints": list(order.derived),
    }


def _with_choice(predictor, backend_choice):
    """The Predictor, remembering how 'auto' chose its engine (its JSON says so)."""
    predictor.backend_choice = backend_choice
    return predictor


def engine_precision(choice, calibration, info) -> dict:
    """engines.create's precision options for a precision.Choice: the precision that
    runs, and for int8 the calibration crops at the network's input size."""
    if choice.precision == "fp32" and choice.requested == "fp32":
        return {}
    options = {"precision": choice.precision}
    if choice.precision == "int8":
        from pose3d_jax.inference import calibration as calibration_lib

        options["calibration_crops"] = calibration_lib.calibration_crops(
            calibration, info.input_res, calibration_lib.default_detector()
        )
    return options


def camera_model(camera):
    """A motion.camera.CameraModel from what Predictor(camera=...) was given (or None)."""
    if camera is None or isinstance(camera, camera_lib.CameraModel):
        return camera
    if isinstance(camera, camera_lib.Intrinsics):
        return camera_lib.CameraModel(intrinsics=camera)
    return camera_lib.CameraModel(fov_deg=camera_lib.check_fov(camera))


class Predictor:
    """Runs a restored network on images; see the module docstring."""

    def __init__(
        self,
        loaded: interface.NetworkInfo,
        batch_size=DEFAULT_BATCH_SIZE,
        max_pixels=None,
        *,
        backend=None,
        flip=False,
        warn=True,
        engine=None,
        detector=None,
        detector_options=None,
        camera=None,
        precision=None,
        calibration=None,
    ):
        """loaded: a restored model.network.Network (or, with `engine`, only its
        NetworkInfo); backend: 'xla', 'onnxruntime', 'openvino', 'auto' or None
        (engines.default_backend(): 'auto', the fastest within the guard here);
        flip: average with the mirrored crop (test-time flip); warn: one warning when the
        checkpoint was trained on synthetic figures or is untrained
        (checkpoint.provenance_warning); engine: one already made for `loaded`;
        detector: a detection.PersonDetector, else one is made on first use with
        `detector_options` (model_path, min_score, min_person); camera: a
        motion.camera.CameraModel (or its fov in degrees, or an Intrinsics) to place each
        pose in the camera's frame (Prediction.joints_3d_camera_mm); precision: 'fp32',
        'bf16' or 'int8' on the openvino backend (precision.py; bf16 runs fp32 with a
        warning on a CPU without it); calibration: int8's images (a folder or files) or
        crops [N, R, R, 3] in [0, 1]."""
        self.network = loaded
        self.batch_size = int(batch_size)
        self.max_pixels = image_io.DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
        self.backend_choice = None
        if engine is None:
            backend, precision, self.backend_choice = engines.resolve(backend, precision)
            self.precision = precision_lib.choose(precision, backend, calibration=calibration)
            engine = engines.create(
                loaded, backend, **engine_precision(self.precision, calibration, loaded)
            )
        else:
            self.precision = precision_lib.choose(precision, engine.name, calibration=calibration)
        self.engine = engine
        if warn and self.precision.note:
            warnings.warn(self.precision.note, stacklevel=3)
        self.flip = bool(flip)
        self.provenance_warning = checkpoint.provenance_warning(loaded.meta)
        if warn and self.provenance_warning:
            warnings.warn(self.provenance_warning, stacklevel=3)
        self._detector, self.detector_options = detector, dict(detector_options or {})
        self.camera = camera_model(camera)

    @property
    def detector(self):
        """The trained person detector (made on first use).

        Raises:
          detection.model_file.DetectorError: its model file is missing or damaged.
        """
        if self._detector is None:
            from pose3d_jax.detection.detector import PersonDetector

            self._detector = PersonDetector(**self.detector_options)
        return self._detector

    def about(self) -> dict:
        """What produced the predictions (written beside them in every JSON result)."""
        return {
            "checkpoint": None if self.network.step_dir is None else str(self.network.step_dir),
            "provenance": {
                "kind": checkpoint.provenance_kind(self.network.meta),
                "warning": self.provenance_warning,
            },
            "backend": self.engine.name,
            "precision": self.precision.to_dict(),
            **({"backend_choice": self.backend_choice} if self.backend_choice else {}),
            "flip": self.flip,
        }

    @classmethod
    def from_checkpoint(cls, path=None, **kwargs):
        """A Predictor for the checkpoint at `path` (default place when None).

        On ONNX Runtime, a checkpoint exported by an earlier start is opened without
        restoring it or importing JAX (onnx_engine.warm_start). Otherwise it is
        restored with JAX's persistent compilation cache on (runtime/compile_cache.py),
        so a second start does not compile the network again.

        Raises:
          checkpoint.CheckpointError: saying how to get or fix a checkpoint.
          engines.BackendError: for a backend that cannot run here.
        """
        kwargs["backend"], kwargs["precision"], backend_choice = engines.resolve(
            kwargs.get("backend"), kwargs.get("precision")
        )
        choice = precision_lib.choose(
            kwargs.get("precision"), kwargs["backend"], calibration=kwargs.get("calibration")
        )
        if kwargs["backend"] in ("onnxruntime", "openvino"):
            from pose3d_jax.inference import onnx_engine

            def make_engine(model_path, info):
                if kwargs["backend"] == "onnxruntime":
                    return onnx_engine.OnnxRuntimeEngine(model_path)
                from pose3d_jax.inference.openvino_engine import OpenVinoEngine

                options = engine_precision(choice, kwargs.get("calibration"), info)
                return OpenVinoEngine(model_path, **options)

            warm = onnx_engine.warm_start(path, make_engine=make_engine)
            if warm is not None:
                return _with_choice(cls(warm[0], engine=warm[1], **kwargs), backend_choice)
        from pose3d_jax.model import network
        from pose3d_jax.runtime import compile_cache

        compile_cache.enable()
        return _with_choice(cls(network.load_network(path), **kwargs), backend_choice)

    def load(self, image):
        """An image argument (path or array) as RGB uint8 [H, W, 3]."""
        if isinstance(image, (str, os.PathLike)):
            return image_io.load_image(image, self.max_pixels)
        return image_io.to_rgb_uint8(np.asarray(image))  # NumPy, PIL, JAX arrays

    def __call__(self, image, bbox=None, *, detect=False) -> Prediction:
        """The pose in one image (a path or an HxWxC RGB array); bbox is [x, y, w, h]."""
        return self.predict_batch([image], None if bbox is None else [bbox], detect=detect)[0]

    def people(self, image, *, max_people=None) -> list[Prediction]:
        """Every person the trained detector finds in `image`, left to right (at most
        `max_people`, the best scoring kept); [] when there is no one."""
        image = self.load(image)
        found = self.detector(image, max_people)
        crops = [person_crop(p) for p in found]
        predictions = self.predict_crops([image] * len(found), crops, pad_to=self.stream_batch())
        return [
            dataclasses.replace(p, detection=f) for p, f in zip(predictions, found, strict=True)
        ]

    def best_person_crop(self, image):
        """The Crop of the detector's best-scoring person, or the centred crop with a note."""
        found = self.detector(image, max_people=1)
        if found:
            return person_crop(found[0])
        note = "the person detector found no person; used the centred crop"
        return dataclasses.replace(choose_crop(image), note=note)

    def localise(self, image, settings=None):
        """(Crop, Prediction) of the person anywhere in `image`, found by the network."""
        image = self.load(image)
        settings = settings or localise_lib.SearchSettings()
        return localise_lib.localise(self._predict_padded, image, settings)

    def stream_batch(self):
        """The pad_to for a stream of crops in pieces of varying size: batch_size for an
        engine that compiles each batch shape (XLA), None (no padding) otherwise."""
        return self.batch_size if getattr(self.engine, "fixed_shapes", True) else None

    def _predict_padded(self, images, crops):
        return self.predict_crops(images, crops, pad_to=self.batch_size)

    def choose_crop(self, image, bbox=None, detect=False):
        """The Crop for a loaded image: bbox, else by `detect`: True or 'detector' (the
        trained detector's best person), 'network' (the network's search), 'hog', or
        False / None / 'none' (centred)."""
        if detect not in (False, None, True, *DETECT_METHODS):
            raise ValueError(
                f"detect must be False, True or one of {DETECT_METHODS}, got {detect!r}"
            )
        if bbox is None and detect in (True, "detector"):
            return self.best_person_crop(image)
        if bbox is None and detect == "network":
            return self.localise(image)[0]
        return choose_crop(image, bbox, detect == "hog")

    def predict_batch(self, images, bboxes=None, *, detect=False) -> list[Prediction]:
        """Poses of several images, batch_size at a time (one compile per batch shape).

        detect: False (centred or bbox), True or 'detector' (the detector's best person),
        'network' (localise), 'hog'.
        """
        images = [self.load(image) for image in images]
        bboxes = [None] * len(images) if bboxes is None else list(bboxes)
        crops = [self.choose_crop(im, b, detect) for im, b in zip(images, bboxes, strict=True)]
        for crop in crops:
            if crop.note:
                warnings.warn(crop.note, stacklevel=2)
        return self.predict_crops(images, crops)

    def predict_crops(self, images, crops, *, pad_to=None) -> list[Prediction]:
        """Poses for loaded RGB uint8 images and their chosen crops.

        Batches are padded to `pad_to` (default: min(batch_size, len(images))),
        so a caller feeding a stream in pieces compiles one shape only; an engine that
        runs any batch size (ONNX Runtime) gets no padding.
        """
        pairs = list(zip(images, crops, strict=True))
        results = []
        chunk = pad_to or max(1, min(self.batch_size, len(pairs)))
        for start in range(0, len(pairs), chunk):
            part = pairs[start : start + chunk]
            fixed = getattr(self.engine, "fixed_shapes", True)
            results.extend(self._run(part, chunk if fixed else len(part)))
        return results

    def _run(self, part, padded_size):
        res = self.network.input_res
        cropped = [crop_image(image, crop, res) for image, crop in part]
        inputs = np.zeros((padded_size, res, res, 3), np.float32)
        inputs[: len(part)] = np.stack([c for c, _ in cropped]).astype(np.float32) / 255.0
        out = interface.decode_outputs(self.engine(inputs, flip=self.flip), xp=np)
        matrices = np.stack([m for _, m in cropped])
        n = len(part)
        joints_2d = interface.heatmap_to_image(
            out["points"][:n], matrices, heatmap_res=self.network.heatmap_res, input_res=res
        )
        joints_3d = interface.joints_3d_mm(
            out["points"][:n], out["depth"][:n], self.network.heatmap_res
        )
        results = []
        for i, (image, crop) in enumerate(part):
            size = (image.shape[1], image.shape[0])
            intrinsics = None if self.camera is None else self.camera.for_image(*size)
            results.append(
                Prediction(
                    joint_names=skeleton.JOINT_NAMES,
                    joints_2d=joints_2d[i],
                    confidence=out["confidence"][i],
                    joints_3d_mm=joints_3d[i],
                    crop=crop,
                    image_size=size,
                    joints_3d_camera_mm=None
                    if intrinsics is None
                    else camera_lib.camera_joints(
                        joints_3d[i], joints_2d[i], out["confidence"][i], intrinsics
                    ),
                    intrinsics=intrinsics,
                )
            )
        return results
