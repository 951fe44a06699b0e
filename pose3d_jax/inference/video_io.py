"""Frames of a video file (whatever OpenCV reads) or of a folder of numbered images,
and the MP4 written from drawn frames (under a temporary name until finished).

A damaged frame is skipped and counted, not fatal; a file that is not a video or
a folder without frames is one clear VideoError.
"""

import dataclasses
import os
import re
import tempfile
from pathlib import Path

import cv2
import numpy as np

from pose3d_jax.inference import image_io

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
DEFAULT_FPS = 25.0
MAX_CONSECUTIVE_FAILURES = 25  # then the rest of the file is taken as unreadable


class VideoError(Exception):
    """A video or frame folder that cannot be read; the message names it and the fix."""


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclasses.dataclass
class Frame:
    """Frame `index` (0-based) at `time` seconds; image is RGB uint8, or None if damaged."""

    index: int
    time: float
    image: np.ndarray | None
    problem: str = ""


def _natural_key(path):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


class FrameFolder:
    """The image files of a folder, in numeric order of their names, at `fps`."""

    def __init__(self, folder, fps=DEFAULT_FPS, max_pixels=image_io.DEFAULT_MAX_PIXELS):
        self.path = Path(folder)
        self.files = sorted(image_io.expand_inputs([self.path]), key=_natural_key)
        if not self.files:
            raise VideoError(f"folder '{self.path}' holds no image files (.png, .jpg, ...).")
        self.fps, self.count, self.max_pixels = float(fps), len(self.files), max_pixels

    def __iter__(self):
        for index, path in enumerate(self.files):
            try:
                image = image_io.load_image(path, self.max_pixels)
                yield Frame(index, index / self.fps, image)
            except image_io.ImageError as err:
                yield Frame(index, index / self.fps, None, str(err))


class VideoFile:
    """The frames of a video file, decoded by OpenCV (FFmpeg)."""

    def __init__(self, path, fps=None):
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"video '{self.path}' does not exist.")
        capture = cv2.VideoCapture(str(self.path))
        ok = capture.isOpened() and capture.grab()
        capture.release()
        if not ok:
            raise VideoError(
                f"cannot read '{self.path}' as a video (OpenCV {cv2.__version__} decodes no "
                "frame of it); check the file, or convert it: ffmpeg -i IN -c:v libx264 OUT.mp4."
            )
        capture = cv2.VideoCapture(str(self.path))
        recorded = capture.get(cv2.CAP_PROP_FPS)
        self.count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        capture.release()
        self.fps = float(fps or (recorded if recorded and recorded > 0 else DEFAULT_FPS))

    def __iter__(self):
        capture = cv2.VideoCapture(str(self.path))
        index, failures = 0, 0
        try:
            while True:
                ok, bgr = capture.read()
                if ok and bgr is not None:
                    failures = 0
                    yield Frame(index, index / self.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                    index += 1
                    continue
                if self.count is None or index >= self.count:
                    return  # the end
                failures += 1
                if failures > MAX_CONSECUTIVE_FAILURES:
                    for missing in range(index, self.count):
                        yield Frame(missing, missing / self.fps, None, "undecodable frame")
                    return
                yield Frame(index, index / self.fps, None, "undecodable frame")
                index += 1
        finally:
            capture.release()


def open_frames(path, fps=None, max_pixels=image_io.DEFAULT_MAX_PIXELS):
    """A FrameFolder for a folder, a VideoFile for anything else."""
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path, fps or DEFAULT_FPS, max_pixels)
    return VideoFile(path, fps)


class Mp4Writer:
    """Writes frames (RGB uint8, one size) to `path` via a temporary file renamed at close.

    Use as a context manager: on an exception the temporary file is removed.
    """

    def __init__(self, path, fps, size):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=".mp4", dir=self.path.parent
        )
        os.close(fd)
        self.tmp, self.size, self.frames = Path(tmp), tuple(size), 0
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
        self.writer = cv2.VideoWriter(str(self.tmp), fourcc, float(fps), self.size)
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise VideoError(f"OpenCV cannot write MP4 (mp4v) files here: '{self.path}'.")

    def write(self, rgb):
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self.writer.release()
        if kind is None and self.frames:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def count_frames(path) -> int:
    """Frames OpenCV decodes from a video file (for checks)."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count
