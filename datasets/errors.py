"""One clear error for each way raw data can be wrong, and the image reader.

A user who points a builder at a wrong or damaged release should read one
sentence naming the file or field and the fix, not a traceback from h5py or
OpenCV (ARCHITECTURE "Rules of the house").
"""

import logging
from pathlib import Path

import cv2
import numpy as np

JPEG_START = b"\xff\xd8"
JPEG_END = b"\xff\xd9"
SKIP_HINT = "or build with skip_bad_images=True (prepare --skip_bad_images) to leave it out"


class DatasetError(RuntimeError):
    """Raw data that cannot be converted; the message names the file and the fix."""


def require_dir(path: Path, what: str, fix: str) -> Path:
    """`path` if it is a non-empty directory, else a DatasetError."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{what}: directory {path} does not exist; {fix}")
    if not any(path.iterdir()):
        raise DatasetError(f"{what}: directory {path} is empty; {fix}")
    return path


def require_file(path: Path, what: str, fix: str) -> Path:
    """`path` if it is a file, else a DatasetError."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{what}: file {path} does not exist; {fix}")
    return path


def require_fields(container, fields, path: Path, fix: str) -> None:
    """Every name in `fields` must be a key of `container` (an h5 file or a dict)."""
    missing = [name for name in fields if name not in container]
    if missing:
        raise DatasetError(f"{path} has no field {', '.join(repr(m) for m in missing)}; {fix}")


def decode_image(data: bytes, path: Path) -> np.ndarray:
    """BGR uint8 image from encoded bytes; DatasetError if unreadable or a cut-off JPEG.

    OpenCV decodes a truncated JPEG without error (grey bottom rows), so a JPEG
    must end with its end-of-image marker.
    """
    if not data:
        raise DatasetError(f"image {path} is empty; replace it from the release {SKIP_HINT}")
    if data.startswith(JPEG_START) and not data.rstrip(b"\x00\r\n").endswith(JPEG_END):
        raise DatasetError(f"image {path} is truncated; replace it from the release {SKIP_HINT}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(
            f"image {path} cannot be decoded; replace it from the release {SKIP_HINT}"
        )
    return image


def read_image(path: Path) -> np.ndarray:
    """BGR uint8 image at `path`; DatasetError if missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"image {path} does not exist; restore it from the release {SKIP_HINT}")
    return decode_image(path.read_bytes(), path)


class BadImages:
    """Reads images, raising on the first bad one or, when skipping, counting them.

    The last image read is kept, so persons of one picture (adjacent rows of
    MPII) decode it once.
    """

    def __init__(self, skip: bool, dataset: str):
        self.skip = skip
        self.dataset = dataset
        self.count = 0
        self._last: tuple[Path, np.ndarray | None] | None = None

    def read(self, path: Path) -> np.ndarray | None:
        """The image, or None when it is bad and bad images are skipped."""
        path = Path(path)
        if self._last is not None and self._last[0] == path:
            return self._last[1]
        try:
            image = read_image(path)
        except DatasetError as error:
            if not self.skip:
                raise
            self.count += 1
            logging.warning("%s: skipping (%s)", self.dataset, error)
            image = None
        self._last = (path, image)
        return image

    def report(self, split: str, written: int) -> None:
        """Logs the skipped count; an error if nothing at all could be read."""
        if self.count:
            logging.warning("%s/%s: skipped %d bad images", self.dataset, split, self.count)
        if written == 0:
            raise DatasetError(
                f"{self.dataset}/{split}: no example could be written ({self.count} bad images); "
                "check the raw folder against datasets/README.md"
            )


def message_in(error: BaseException) -> str | None:
    """The DatasetError message inside an exception that Apache Beam re-raised
    from a worker (it wraps the worker's traceback in its own error), or None."""
    for line in str(error).splitlines():
        _, found, rest = line.partition(f"{DatasetError.__name__}: ")
        if found and rest.strip():
            return rest.strip().rstrip("'\"]")
    return None
