"""Every person through a video or frame folder of `python -m pose3d_jax.infer`.

The people are found and followed by tracking/tracker.py: the trained detector every
`--detect-every` frames (and when a track's score falls), each track's box between
them, all tracks' crops of a chunk of frames through the network together. With
`--detect network|hog|none` or `--bbox` the one person those give is followed instead.
Optional One-Euro smoothing per track (tracking/smoothing.py), started afresh for each
new track. Writes, each under a temporary name until the whole video is done:
  OUT/NAME.jsonl  one line per frame: frame, time_s, people (track_id, box, 2D, 3D, ...),
                  or "skipped": why (records.frame_record, docs/schema/video_frame.schema.json)
  OUT/NAME.mp4    the frames with each track's skeleton and ID beside the 3D view
  OUT/NAME.json   the summary: frames, skipped, tracks, detector runs, frames/s, settings
  OUT/NAME_trackID.bvh  with --bvh: each track's animation (inference/animation.py)
Joints are in the order of --skeleton (motion/skeletons.py); with --fov or --intrinsics
each person also has joints_3d_camera_mm (motion/camera.py).
"""

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from pose3d_jax import fileio
from pose3d_jax.inference import draw, records, video_io
from pose3d_jax.inference.animation import AnimationSettings, TrackAnimations
from pose3d_jax.inference.predictor import skeleton_facts
from pose3d_jax.tracking import smoothing, tracker


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


def detect_function(predictor, method, bbox=None, max_people=None):
    """image -> [tracker.Detected] for a detection method (one person unless 'detector')."""
    if method == "detector":
        return lambda image: [
            tracker.Detected(p.box, p.score, p) for p in predictor.detector(image, max_people)
        ]

    def one_person(image):
        crop = predictor.choose_crop(image, bbox, False if method == "none" else method)
        return [tracker.Detected(crop.box(), None)]

    return one_person


def estimate_function(predictor):
    """(images, [x, y, w, h] boxes) -> Predictions, batched over all tracks and frames."""
    from pose3d_jax.inference import crops as crops_lib

    def estimate(images, boxes):
        crops = [crops_lib.tracked_crop(box) for box in boxes]
        return predictor.predict_crops(images, crops, pad_to=predictor.stream_batch())

    return estimate


class TrackSmoother:
    """One-Euro filters of the 2D and 3D joints per track ID (new IDs start afresh)."""

    def __init__(self, settings):
        self.settings, self.filters = settings, {}

    def __call__(self, person, time_s):
        if self.settings is None:
            return person
        filters = self.filters.setdefault(
            person.track_id, [smoothing.OneEuroFilter(self.settings) for _ in range(3)]
        )
        p = person.result
        camera = p.joints_3d_camera_mm
        smoothed = dataclasses.replace(
            p,
            joints_2d=filters[0](p.joints_2d, time_s),
            joints_3d_mm=filters[1](p.joints_3d_mm, time_s),
            joints_3d_camera_mm=None if camera is None else filters[2](camera, time_s),
        )
        return dataclasses.replace(person, result=smoothed)


def drawn_frame(tracked):
    people = sorted(tracked.people, key=lambda p: p.result.crop.center[0])
    return draw.picture(
        tracked.frame.image,
        [(f"{p.track_id}", p.result.joints_2d, p.result.joints_3d_mm, p.track_id) for p in people],
        max_height=540,
        caption=f"{tracked.frame.index}",
    )


def process(predictor, source, out_dir, name, settings=None, *, detect=None, smooth=None,
            about=None, detection=None, skeleton_name="mpii16", animation=None):  # fmt: skip
    """Tracks the people through `source` (a video_io.VideoFile or FrameFolder); writes the
    three outputs (and with `animation`, an animation.AnimationSettings, a BVH per track)
    and returns the summary."""
    settings = settings or tracker.TrackSettings()
    out_dir = Path(out_dir)
    follow = tracker.Tracker(
        detect or detect_function(predictor, "detector"), estimate_function(predictor), settings
    )
    smoother = TrackSmoother(smooth)
    animations = None if animation is None else TrackAnimations(animation)
    counts, seen = {"frames": 0, "skipped": 0}, {}
    started = time.perf_counter()
    writer, last_drawn, frame_size = None, None, None
    with contextlib.ExitStack() as outputs:  # an error removes every temporary file
        lines = outputs.enter_context(_JsonLines(out_dir / f"{name}.jsonl"))
        bar = outputs.enter_context(_progress(source.count, name))
        for tracked in follow.run(source):
            counts["frames"] += 1
            tracked.people = [smoother(p, tracked.frame.time) for p in tracked.people]
            lines.write(records.frame_record(tracked, skeleton_name))
            if tracked.skipped:
                counts["skipped"] += 1
                index, why = tracked.frame.index, tracked.skipped
                bar.write(f"warning: {name}: frame {index} skipped ({why}).", file=sys.stderr)
                drawn = last_drawn  # keep the video's timing: repeat the last picture
            else:
                image = tracked.frame.image
                frame_size = frame_size or (image.shape[1], image.shape[0])
                for p in tracked.people:
                    span = seen.setdefault(p.track_id, [tracked.frame.index, tracked.frame.index])
                    span[1] = tracked.frame.index
                    if animations is not None:
                        animations.add(tracked.frame.index, p)
                drawn = drawn_frame(tracked)
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
    bvh_files = {} if animations is None else animations.write(out_dir, name, source.fps)
    summary = {
        "schema": records.SUMMARY_SCHEMA,
        "schema_version": records.SCHEMA_VERSION,
        "input": str(source.path),
        **counts,
        "tracks": [
            {"track_id": k, "first_frame": a, "last_frame": b} for k, (a, b) in sorted(seen.items())
        ],  # fmt: skip
        "detector_runs": follow.detector_runs,
        "fps": source.fps,
        "frames_per_s": round(counts["frames"] / seconds, 2),
        "detection": detection or {"method": "detector"},
        "settings": {
            **dataclasses.asdict(settings),
            "smoothing": None if smooth is None else dataclasses.asdict(smooth),
        },
        **skeleton_facts(skeleton_name),
        **records.camera_facts(getattr(predictor, "camera", None), frame_size),
        "conventions": records.CONVENTIONS,
        **(about or predictor.about()),
        "outputs": {
            "frames": f"{name}.jsonl",
            "video": f"{name}.mp4" if writer else None,
            **({} if animations is None else {"bvh": {str(k): v for k, v in bvh_files.items()}}),
        },
    }
    fileio.write_json_atomic(out_dir / f"{name}.json", summary)
    return summary


def settings_from_args(args):
    """(TrackSettings, OneEuroSettings or None) from infer's video flags."""
    smooth = None
    if args.smooth:
        smooth = smoothing.OneEuroSettings(
            min_cutoff=args.smooth_min_cutoff, beta=args.smooth_beta, d_cutoff=args.smooth_d_cutoff
        )
    settings = tracker.TrackSettings(
        chunk=args.chunk,
        detect_every=args.detect_every,
        redetect_fraction=args.redetect_fraction,
    )
    return settings, smooth


def run_sequences(predictor, paths, out_dir, args, method="detector", detection=None) -> int:
    """Processes each video or frame folder; returns how many failed (each said in one line)."""
    from pose3d_jax.inference.images import output_names, print_error

    failures = 0
    settings, smooth = settings_from_args(args)
    detect = detect_function(predictor, method, args.bbox, args.max_people)
    for path, name in zip(paths, output_names(paths), strict=True):
        try:
            source = video_io.open_frames(path, args.fps, args.max_pixels)
            summary = process(
                predictor, source, out_dir, name, settings, detect=detect, smooth=smooth,
                about=predictor.about(), detection=detection, skeleton_name=args.skeleton,
                animation=AnimationSettings(args.skeleton, args.bvh_units) if args.bvh else None,
            )  # fmt: skip
        except video_io.VideoError as err:
            print_error(str(err))
            failures += 1
            continue
        except OSError as err:
            print_error(f"could not write the results of '{path}' to '{out_dir}' ({err}).")
            failures += 1
            continue
        animations = summary["outputs"].get("bvh")
        print(
            f"{path}: {summary['frames']} frames ({summary['skipped']} skipped), "
            f"{len(summary['tracks'])} tracks, {summary['detector_runs']} detector runs, at "
            f"{summary['frames_per_s']} frames/s -> {out_dir / (name + '.jsonl')}, "
            f"{out_dir / (name + '.mp4')}"
            + ("" if animations is None else f", {len(animations)} BVH ({name}_track*.bvh)"),
            file=sys.stderr,
        )
    return failures
