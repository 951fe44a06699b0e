"""Reading user images for inference: any size, depth and channel layout.

Pillow reads the header first, so an image over the pixel limit is refused
before it is decoded, and it reports truncated files (OpenCV silently returns
grey rows for a cut-off JPEG). Every failure is an ImageError whose message is
one sentence naming the file and the fix.
"""

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 100_000_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ImageError(Exception):
    """An input image that cannot be used; the message names the file and the fix."""


def to_rgb_uint8(image) -> np.ndarray:
    """Any HxW, HxWx1, HxWx3 or HxWx4 array (uint8, uint16, or float in [0, 1]) as RGB uint8.

    Grey is repeated over the channels, alpha is dropped, 16-bit values are
    scaled by 255 / 65535.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise ImageError(f"an image array must be HxW or HxWxC with C in 1..4, got {image.shape}.")
    if image.shape[2] in (2, 4):  # grey + alpha, RGB + alpha
        image = image[:, :, :-1]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if image.dtype == np.uint16:
        return np.round(image.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    if image.dtype.kind == "f":
        return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    if image.dtype.kind in "iu":  # e.g. Pillow's 32-bit 'I' mode of a 16-bit PNG
        scale = 255.0 / 65535.0 if image.max(initial=0) > 255 else 1.0
        return np.round(np.clip(image * scale, 0, 255)).astype(np.uint8)
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    raise ImageError(f"an image array of dtype {image.dtype} is not supported.")


def _pil_to_array(img: Image.Image) -> np.ndarray:
    if img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)  # byte order resolved by NumPy
    if img.mode in ("I", "L", "LA", "RGB", "RGBA"):
        return np.asarray(img)
    if img.mode == "F":
        return np.asarray(img) / 255.0
    return np.asarray(img.convert("RGBA" if "A" in img.getbands() else "RGB"))


def _open(path: Path):
    """Opens the header with Pillow's own bomb check lifted (ours applies instead)."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def load_image(path, max_pixels=DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The image at `path` as RGB uint8 [H, W, 3], EXIF orientation applied.

    Raises:
      ImageError: the file is missing, not an image, truncated or damaged, or
        has more than `max_pixels` pixels.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"'{path}' does not exist; check the path.")
    if not path.is_file():
        raise ImageError(f"'{path}' is not a file; pass image files or a folder of them.")
    try:
        img = _open(path)
    except UnidentifiedImageError as err:
        raise ImageError(
            f"'{path}' is not an image this program can read (use PNG or JPEG)."
        ) from err
    except OSError as err:
        raise ImageError(f"'{path}' cannot be read ({err}); check its permissions.") from err
    with img:
        width, height = img.size
        if max_pixels and width * height > max_pixels:
            raise ImageError(
                f"'{path}' has {width}x{height} = {width * height:,} pixels, more than the limit "
                f"of {int(max_pixels):,}; shrink it or raise the limit with --max-pixels."
            )
        try:
            img.load()
            img = ImageOps.exif_transpose(img) or img
            array = _pil_to_array(img)
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise ImageError(
                f"'{path}' is truncated or damaged ({err}); re-export or re-download it."
            ) from err
    return to_rgb_uint8(array)


def expand_inputs(paths) -> list[Path]:
    """Files as given, folders replaced by their image files (sorted, not recursive)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out
