"""Command line: 2D and 3D joints of the person in each image, as JSON and a picture.

    python -m pose3d_jax.infer IMAGE [IMAGE | DIR ...] [--checkpoint DIR]
        [--bbox x,y,w,h] [--detect] [--out DIR] [--batch-size N] [--max-pixels 100e6]

For each image NAME it writes OUT/NAME.json (joint names, 2D joints in
original-image pixels with confidences, pelvis-relative 3D joints in mm, the
crop used) and OUT/NAME.png (the skeleton over the image beside a 3D view),
each written whole or not at all. A bad image is reported in one sentence and
skipped; the others are still processed; the exit code is 1 if any failed.
"""

import argparse
import sys
from pathlib import Path

from pose3d_jax import image_io

DEFAULT_OUT = "pose3d_out"


def _parse_bbox(text):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise argparse.ArgumentTypeError(
            f"--bbox must be x,y,w,h with positive w and h (pixels), got '{text}'"
        )
    return values


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m pose3d_jax.infer",
        description="2D and 3D human pose of the (centred) person in each image.",
    )
    parser.add_argument("inputs", nargs="+", help="image files (PNG, JPEG) or folders of them")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="training workdir, checkpoint folder or step folder "
        "(default: $POSE3D_JAX_CHECKPOINT or ~/.cache/pose3d_jax/demo)",
    )
    parser.add_argument(
        "--bbox", type=_parse_bbox, default=None, help="person box x,y,w,h in pixels (all images)"
    )
    parser.add_argument(
        "--detect", action="store_true", help="crop around OpenCV's best HOG person detection"
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--batch-size", type=_positive_int, default=8, help="images per batch")
    parser.add_argument(
        "--max-pixels",
        type=float,
        default=float(image_io.DEFAULT_MAX_PIXELS),
        help="refuse images with more pixels than this (default 100e6)",
    )
    return parser


def _error(message):
    print(f"error: {message}", file=sys.stderr, flush=True)


def output_names(paths):
    """A unique output stem per input: the file stem, or the file name when stems collide."""
    stems = [p.stem for p in paths]
    names = [p.name if stems.count(p.stem) > 1 else p.stem for p in paths]
    seen = {}
    out = []
    for name in names:  # the same file given twice
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _write_outputs(out_dir, name, path, image, prediction, step_dir):
    """Writes NAME.json and NAME.png atomically; the PNG first, so a JSON implies both."""
    from pose3d_jax import fileio, visualize

    record = {"image": str(path), "checkpoint": str(step_dir), **prediction.to_dict()}
    png = visualize.prediction_png(image, prediction.joints_2d, prediction.joints_3d_mm, path.name)
    png_path = fileio.write_bytes_atomic(out_dir / f"{name}.png", png)
    try:
        fileio.write_json_atomic(out_dir / f"{name}.json", record)
    except BaseException:
        png_path.unlink(missing_ok=True)
        raise


def _load_all(paths, names, max_pixels):
    """[(path, name, image)] of the readable images; a sentence on stderr for each other."""
    from pose3d_jax.image_io import ImageError, load_image

    for path, name in zip(paths, names, strict=True):
        try:
            yield path, name, load_image(path, max_pixels)
        except ImageError as err:
            _error(str(err))
            yield path, name, None


def run(args) -> int:
    """Processes args.inputs; returns the exit code (0: all written, 1: some failed)."""
    from pose3d_jax import checkpoint, predictor

    paths, failures = [], 0
    for given in map(Path, args.inputs):
        found = image_io.expand_inputs([given])
        if given.is_dir() and not found:
            _error(f"folder '{given}' holds no image files (.png, .jpg, ...).")
            failures += 1
        paths.extend(found)
    try:
        runner = predictor.Predictor.from_checkpoint(
            args.checkpoint, batch_size=args.batch_size, max_pixels=args.max_pixels
        )
    except checkpoint.CheckpointError as err:
        _error(str(err))
        return 1
    out_dir = Path(args.out)
    names = output_names(paths)
    pad_to = max(1, min(args.batch_size, len(paths)))  # one compiled batch shape
    batch, written = [], 0
    loaded = _load_all(paths, names, args.max_pixels)
    for item in [*loaded, None]:
        if item is not None and item[2] is None:
            failures += 1
            continue
        if item is not None:
            path, name, image = item
            crop = predictor.choose_crop(image, args.bbox, args.detect)
            if crop.note:
                print(f"warning: {path}: {crop.note}.", file=sys.stderr)
            batch.append((path, name, image, crop))
        if batch and (item is None or len(batch) == args.batch_size):
            results = runner.predict_crops(
                [b[2] for b in batch], [b[3] for b in batch], pad_to=pad_to
            )
            for (path, name, image, _), result in zip(batch, results, strict=True):
                try:
                    _write_outputs(out_dir, name, path, image, result, runner.network.step_dir)
                    written += 1
                except OSError as err:
                    _error(f"could not write the results of '{path}' to '{out_dir}' ({err}).")
                    failures += 1
            batch = []
    print(f"wrote {written} of {written + failures} results to {out_dir}", file=sys.stderr)
    return 1 if failures else 0


def main(argv=None) -> int:
    """Entry point; `argv` without the program name (defaults to sys.argv[1:])."""
    args = build_parser().parse_args(argv)
    if args.bbox is not None and args.detect:
        _error("--bbox and --detect exclude each other; give one.")
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
