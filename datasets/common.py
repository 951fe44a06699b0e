"""The features every builder writes per person, and the stored crop around it.

All three datasets store the same core example so that a training pipeline can
mix them: a STORED_SIZE square JPEG that covers STORED_MARGIN times the person's
box (room for zoom-out and rotation), the 2D joints in its pixels, masks, the
depth target, and the affine map back to the original image. In stored pixels
every person has the same box: centre STORED_CENTER and scale STORED_SCALE, so
`geometry.crop_matrix(center, scale, 256)` gives the un-augmented network input
at about 1:1 resolution.
"""

import os
import sys
from pathlib import Path

import cv2
import numpy as np
import tensorflow_datasets as tfds

from datasets import errors
from pose3d_jax import geometry, skeleton

STORED_SIZE = 384
STORED_MARGIN = 1.5  # the stored image covers 1.5 x the person's box
STORED_CENTER = (STORED_SIZE / 2.0, STORED_SIZE / 2.0)
STORED_SCALE = STORED_SIZE / STORED_MARGIN / geometry.BOX_PIXELS_PER_SCALE
JPEG_QUALITY = 90
SHARD_VERSION = "1.0.0"  # shards land in DATA_DIR/<name>/SHARD_VERSION
# Below this zoom the source is first shrunk with area averaging, so that the
# bilinear warp does not alias (large MPII people in big photos).
MIN_BILINEAR_ZOOM = 0.5

J = skeleton.NUM_JOINTS


def _float(shape, doc):
    return tfds.features.Tensor(shape=shape, dtype=np.float32, doc=doc)


def _int(doc):
    return tfds.features.Scalar(dtype=np.int32, doc=doc)


def common_features() -> dict:
    """The feature specs shared by every dataset (datasets/README.md lists them)."""
    size = STORED_SIZE
    return {
        "image": tfds.features.Image(
            shape=(size, size, 3), encoding_format="jpeg", doc="person crop, RGB"
        ),
        "joints_2d": _float((J, 2), "joints (x, y) in stored-image pixels, 0 where not annotated"),
        "visible": tfds.features.Tensor(shape=(J,), dtype=np.bool_, doc="joint is annotated"),
        "depth": _float((J,), "SPEC-3 depth target in about [-1, 1]; 0 without depth"),
        "has_depth": tfds.features.Scalar(dtype=np.bool_, doc="depth is a real target"),
        "center": _float((2,), "person box centre in stored pixels (always STORED_CENTER)"),
        "scale": tfds.features.Scalar(dtype=np.float32, doc="person box side / 200, stored px"),
        "to_original": _float((2, 3), "affine map from stored pixels to original-image pixels"),
    }


def float_feature(shape, doc):
    """A float32 tensor feature (for dataset-specific extras)."""
    return _float(shape, doc)


def int_feature(doc):
    """An int32 scalar feature (for dataset-specific extras)."""
    return _int(doc)


def stored_matrix(center, scale) -> np.ndarray:
    """Affine map from original pixels to the stored image of the box (center, scale)."""
    return geometry.crop_matrix(center, np.float32(scale) * STORED_MARGIN, STORED_SIZE)


def _shrink(image: np.ndarray, matrix: np.ndarray, factor: int):
    """Area-averages, by a whole factor, the part of `image` the stored crop sees.

    Returns the small image and the matrix mapping its pixels to the stored
    image (a whole factor keeps OpenCV on its fast path and the map exact).
    """
    height, width = image.shape[:2]
    corners = geometry.apply_affine(
        geometry.invert_affine(matrix),
        [[0, 0], [STORED_SIZE, STORED_SIZE], [0, STORED_SIZE], [STORED_SIZE, 0]],
    )
    lo = np.maximum(np.floor(corners.min(axis=0) / factor) * factor, 0).astype(int)
    hi = np.minimum(np.ceil(corners.max(axis=0)), (width, height)).astype(int)
    cols, rows = (hi - lo) // factor
    if cols < 1 or rows < 1:  # the crop misses the image: nothing worth shrinking
        return image, matrix
    roi = image[lo[1] : lo[1] + rows * factor, lo[0] : lo[0] + cols * factor]
    small = cv2.resize(roi, (int(cols), int(rows)), interpolation=cv2.INTER_AREA)
    # In continuous pixels, small pixel p is original pixel p * factor + lo.
    unshrink = np.array([[factor, 0, lo[0]], [0, factor, lo[1]]], np.float64)
    return small, geometry.compose_affine(np.asarray(matrix, np.float64), unshrink)


def warp_to_stored(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The stored image: `image` warped by `matrix` (bilinear, zeros outside)."""
    zoom = float(np.sqrt(abs(np.linalg.det(np.asarray(matrix)[:, :2]))))
    if zoom < MIN_BILINEAR_ZOOM:
        image, matrix = _shrink(image, matrix, int(1.0 / zoom))
    return cv2.warpAffine(
        image,
        geometry.to_opencv_matrix(matrix),
        (STORED_SIZE, STORED_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def encode_jpeg(image_bgr: np.ndarray) -> bytes:
    """JPEG bytes of a BGR image (decodes to RGB in TensorFlow)."""
    ok, data = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG")
    return data.tobytes()


def make_example(image_bgr, center, scale, joints_2d, visible, depth=None) -> dict:
    """The common features of one person.

    Args:
      image_bgr: the original image, uint8 [H, W, 3] BGR (as OpenCV reads it).
      center, scale: the person's box in original pixels (side 200 * scale).
      joints_2d: [16, 2] in original pixels; visible: [16] bool (annotated).
      depth: [16] SPEC-3 depth target, or None when the dataset has none.
    """
    matrix = stored_matrix(center, scale)
    visible = np.asarray(visible, bool)
    joints = geometry.apply_affine(matrix, np.asarray(joints_2d, np.float32))
    joints = np.where(visible[:, None], joints, 0.0)
    has_depth = depth is not None
    return {
        "image": encode_jpeg(warp_to_stored(image_bgr, matrix)),
        "joints_2d": joints.astype(np.float32),
        "visible": visible,
        "depth": (np.asarray(depth) if has_depth else np.zeros(J)).astype(np.float32),
        "has_depth": has_depth,
        "center": np.asarray(STORED_CENTER, np.float32),
        "scale": np.float32(STORED_SCALE),
        "to_original": geometry.invert_affine(matrix).astype(np.float32),
    }


class PoseBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """What the three builders share: version, features, options, the raw folder,
    and the two ways of generating examples.

    Subclasses set `name`, MANUAL_DOWNLOAD_INSTRUCTIONS and DESCRIPTION and
    implement four hooks:
      - `_extra_features()`: their features beyond common_features();
      - `load(raw)`: the release's annotations (any errors in them are raised
        here, in the main process, before any image is read);
      - `plan(raw, annotations)`: {split: rows}, each row a small picklable
        value (an index, a tuple) naming one example, in the split's order;
      - `example(raw, annotations, row, images)`: the features of one row, or
        None when its image is bad and skipped (`images` is an errors.BadImages).

    Examples are keyed by their position in the split, so both the plain path
    (a Python generator, one process) and the Apache Beam path (used when the
    download config carries Beam options, e.g. `prepare --workers N` or
    `tfds build --beam_pipeline_options=...`) write the same records in the
    same order: TFDS writes examples sorted by key when shuffling is disabled.
    """

    VERSION = tfds.core.Version(SHARD_VERSION)
    RELEASE_NOTES = {SHARD_VERSION: "Common person-crop schema (datasets/README.md)."}
    DESCRIPTION = ""
    TRAIN_ORDER_SEED = 0

    def __init__(self, *, skip_bad_images: bool = False, **kwargs):
        """skip_bad_images: leave out (and count) missing or damaged images instead of failing."""
        self.skip_bad_images = skip_bad_images
        self.use_beam = False
        super().__init__(**kwargs)

    # ---- the hooks ----

    def _extra_features(self) -> dict:
        raise NotImplementedError

    @classmethod
    def load(cls, raw: Path):
        raise NotImplementedError

    def plan(self, raw: Path, annotations) -> dict[str, list]:
        raise NotImplementedError

    @classmethod
    def example(cls, raw: Path, annotations, row, images: errors.BadImages) -> dict | None:
        raise NotImplementedError

    # ---- TFDS ----

    def _info(self) -> tfds.core.DatasetInfo:
        features = tfds.features.FeaturesDict(common_features() | self._extra_features())
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=features,
            disable_shuffling=True,
        )

    def _generate_splits(self, dl_manager, download_config):
        self.use_beam = (
            download_config.beam_options is not None or download_config.beam_runner is not None
        )
        if self.use_beam:
            expose_repository_to_workers()
        return super()._generate_splits(dl_manager, download_config)

    def _split_generators(self, dl_manager):
        raw = self.raw_dir(dl_manager)
        annotations = self.load(raw)
        rows = {split: list(r) for split, r in self.plan(raw, annotations).items() if len(r)}
        if not rows:
            raise errors.DatasetError(
                f"{self.name}: the annotations under {raw} give no example (no valid frame or "
                "annotated person); check the raw folder against datasets/README.md"
            )
        if self.use_beam:
            make = lambda split, r: beam_examples(self.name, raw, split, r, self.skip_bad_images)
        else:
            make = lambda split, r: self._generate_examples(raw, annotations, split, r)
        return {split: make(split, r) for split, r in rows.items()}

    def _generate_examples(self, raw, annotations, split, rows):
        images = errors.BadImages(self.skip_bad_images, self.name)
        written = 0
        for position, row in enumerate(rows):
            features = self.example(raw, annotations, row, images)
            if features is None:
                continue
            written += 1
            yield position, features
        images.report(split, written)

    def raw_dir(self, dl_manager) -> Path:
        """The manual (raw) folder, or one clear error when it is missing or empty."""
        try:
            return Path(os.fspath(dl_manager.manual_dir))
        except AssertionError:
            where = getattr(dl_manager, "_manual_dir", None)
            raise errors.DatasetError(
                f"{self.name}: raw folder {where} does not exist or is empty; "
                f"put the release there as datasets/README.md describes:\n"
                f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}"
            ) from None

    def train_order(self, count: int) -> np.ndarray:
        """A fixed permutation, so training shards are not in video or image order."""
        return np.random.default_rng(self.TRAIN_ORDER_SEED).permutation(count)


# ---- the Apache Beam path ----

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
BUILDER_MODULES = {  # name: module, for workers (the `tfds` command imports `h36m.h36m`)
    "h36m": "datasets.h36m.h36m",
    "mpii": "datasets.mpii.mpii",
    "mpi_inf_3dhp": "datasets.mpi_inf_3dhp.mpi_inf_3dhp",
}
_ANNOTATIONS: dict = {}  # per worker process: (name, raw) -> annotations


def expose_repository_to_workers() -> None:
    """Beam's local worker processes import this package: put the repository on
    their PYTHONPATH (they inherit the environment)."""
    root = str(REPOSITORY_ROOT)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *filter(None, paths)])
    if root not in sys.path:
        sys.path.insert(0, root)


def _builder_class(name: str):
    import importlib

    module = importlib.import_module(BUILDER_MODULES[name])
    return next(
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, PoseBuilder) and v.name == name
    )


class BeamExamples:
    """The Beam worker's function: (position, row) -> [(position, features)].

    Holds only names and paths; each worker process reads the annotations once.
    """

    def __init__(self, name: str, raw: Path, skip_bad_images: bool):
        self.name, self.raw, self.skip = name, str(raw), skip_bad_images

    def __call__(self, item):
        position, row = item
        cls = _builder_class(self.name)
        key = (self.name, self.raw)
        if key not in _ANNOTATIONS:
            _ANNOTATIONS[key] = cls.load(Path(self.raw))
        images = errors.BadImages(self.skip, self.name)
        features = cls.example(Path(self.raw), _ANNOTATIONS[key], row, images)
        if features is None:
            from apache_beam.metrics import Metrics

            Metrics.counter(self.name, "skipped_bad_images").inc()
            return []
        return [(position, features)]


def beam_examples(name: str, raw: Path, split: str, rows: list, skip_bad_images: bool):
    """A Beam PTransform yielding the split's (position, features).

    Reshuffle spreads the rows over the workers (beam.Create alone is one bundle).
    """
    import apache_beam as beam

    return (
        beam.Create(list(enumerate(rows)))
        | f"{split}_spread" >> beam.Reshuffle()
        | f"{split}_examples" >> beam.FlatMap(BeamExamples(name, raw, skip_bad_images))
    )
