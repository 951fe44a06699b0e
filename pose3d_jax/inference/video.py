"""Pose through a video or frame folder of `python -m pose3d_jax.infer`.

Writes, each under a temporary name until the whole video is done:
  OUT/NAME.jsonl  one line per frame: frame, time_s, joints_2d, confidence,
                  joints_3d_mm, crop, score (or "skipped": why)
  OUT/NAME.mp4    the frames with the 2D skeleton beside the 3D view
  OUT/NAME.json   the summary: frames, skipped, re-localisations, frames/s,
                  settings, joint names, conventions, checkpoint provenance
"""

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pose3d_jax import fileio, skeleton
from pose3d_jax.inference import smoothing, tracking, video_draw, video_io
from pose3d_jax.inference.predictor import CONVENTIONS


def frame_record(tracked) -> dict:
    """The JSON line of one TrackedFrame."""
    frame = tracked.frame
    record = {"frame": frame.index, "time_s": round(frame.time, 4)}
    if tracked.prediction is None:
        return {**record, "skipped": tracked.skipped}
    p = tracked.prediction
    return {
        **record,
        "joints_2d": np.round(p.joints_2d, 2).tolist(),
        "confidence": np.round(p.confidence, 4).tolist(),
        "joints_3d_mm": np.round(p.joints_3d_mm, 1).tolist(),
        "crop": p.crop.to_dict(),
        "score": round(tracked.score, 5),
        "relocalised": tracked.relocalised,
    }


class _JsonLines:
    """A JSON-lines file written under a temporary name, renamed on success."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        self.tmp, self.file = Path(tmp), os.fdopen(fd, "w")

    def write(self, record):
        self.file.write(json.dumps(record) + "\n")

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self.file.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def _progress(total, name):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=name, file=sys.stderr, dynamic_ncols=True)


def process(predictor, source, out_dir, name, settings=None, *, about=None):
    """Tracks the person through `source` (a video_io.VideoFile or FrameFolder); writes the
    three outputs and returns the summary."""
    settings = settings or tracking.TrackSettings()
    out_dir = Path(out_dir)
    tracker = tracking.Tracker(predictor, settings)
    counts = {"frames": 0, "skipped": 0}
    started = time.perf_counter()
    writer, last_drawn = None, None
    with contextlib.ExitStack() as outputs:  # an error removes every temporary file
        lines = outputs.enter_context(_JsonLines(out_dir / f"{name}.jsonl"))
        bar = outputs.enter_context(_progress(source.count, name))
        for tracked in tracker.run(source):
            counts["frames"] += 1
            lines.write(frame_record(tracked))
            if tracked.prediction is None:
                counts["skipped"] += 1
                index, why = tracked.frame.index, tracked.skipped
                bar.write(f"warning: {name}: frame {index} skipped ({why}).", file=sys.stderr)
                drawn = last_drawn  # keep the video's timing: repeat the last picture
            else:
                p = tracked.prediction
                drawn = video_draw.frame_with_pose(
                    tracked.frame.image, p.joints_2d, p.joints_3d_mm, f"{tracked.frame.index}"
                )
            if drawn is not None:
                if writer is None:
                    size = (drawn.shape[1], drawn.shape[0])
                    mp4 = video_io.Mp4Writer(out_dir / f"{name}.mp4", source.fps, size)
                    writer = outputs.enter_context(mp4)
                writer.write(drawn)
                last_drawn = drawn
            bar.update(1)
    if counts["frames"] == counts["skipped"]:
        (out_dir / f"{name}.jsonl").unlink(missing_ok=True)
        raise video_io.VideoError(f"no frame of '{source.path}' could be read.")
    seconds = time.perf_counter() - started
    summary = {
        "input": str(source.path),
        **counts,
        "relocalisations": tracker.relocalisations,
        "fps": source.fps,
        "frames_per_s": round(counts["frames"] / seconds, 2),
        "settings": dataclasses.asdict(settings),
        "joint_names": list(skeleton.JOINT_NAMES),
        "conventions": CONVENTIONS,
        **(about or predictor.about()),
        "outputs": {"frames": f"{name}.jsonl", "video": f"{name}.mp4" if writer else None},
    }
    fileio.write_json_atomic(out_dir / f"{name}.json", summary)
    return summary


def settings_from_args(args) -> tracking.TrackSettings:
    """TrackSettings from infer's --chunk, --relocalise-fraction and --smooth* flags."""
    smooth = None
    if args.smooth:
        smooth = smoothing.OneEuroSettings(
            min_cutoff=args.smooth_min_cutoff, beta=args.smooth_beta, d_cutoff=args.smooth_d_cutoff
        )
    return tracking.TrackSettings(
        chunk=args.chunk, relocalise_fraction=args.relocalise_fraction, smoothing=smooth
    )


def run_sequences(predictor, paths, out_dir, args) -> int:
    """Processes each video or frame folder; returns how many failed (each said in one line)."""
    from pose3d_jax.inference.images import output_names, print_error

    failures = 0
    settings = settings_from_args(args)
    for path, name in zip(paths, output_names(paths), strict=True):
        try:
            source = video_io.open_frames(path, args.fps, args.max_pixels)
            summary = process(predictor, source, out_dir, name, settings, about=predictor.about())
        except video_io.VideoError as err:
            print_error(str(err))
            failures += 1
            continue
        except OSError as err:
            print_error(f"could not write the results of '{path}' to '{out_dir}' ({err}).")
            failures += 1
            continue
        print(
            f"{path}: {summary['frames']} frames ({summary['skipped']} skipped, "
            f"{summary['relocalisations']} localisations) at {summary['frames_per_s']} frames/s "
            f"-> {out_dir / (name + '.jsonl')}, {out_dir / (name + '.mp4')}",
            file=sys.stderr,
        )
    return failures
