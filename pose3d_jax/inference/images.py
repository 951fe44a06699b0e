"""Pose of each image file of `python -m pose3d_jax.infer`, written as JSON and PNG.

Reads the images one by one (a bad one is reported and skipped), batches them
through a Predictor and writes NAME.json and NAME.png per image, each whole or
not at all.
"""

import sys
from pathlib import Path

from pose3d_jax.inference import image_io, video_io


def print_error(message):
    """One `error: ...` line on stderr."""
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


def _write_outputs(out_dir, name, path, image, prediction, about_run):
    """Writes NAME.json and NAME.png atomically; the PNG first, so a JSON implies both."""
    from pose3d_jax import fileio
    from pose3d_jax.inference import visualize

    record = {"image": str(path), **about_run, **prediction.to_dict()}
    png = visualize.prediction_png(image, prediction.joints_2d, prediction.joints_3d_mm, path.name)
    png_path = fileio.write_bytes_atomic(out_dir / f"{name}.png", png)
    try:
        fileio.write_json_atomic(out_dir / f"{name}.json", record)
    except BaseException:
        png_path.unlink(missing_ok=True)
        raise


def _load_all(paths, names, max_pixels):
    """[(path, name, image)] of the readable images; a sentence on stderr for each other."""
    from pose3d_jax.inference.image_io import ImageError, load_image

    for path, name in zip(paths, names, strict=True):
        try:
            yield path, name, load_image(path, max_pixels)
        except ImageError as err:
            print_error(str(err))
            yield path, name, None


def run(args) -> int:
    """Processes args.inputs; returns the exit code (0: all written, 1: some failed)."""
    from pose3d_jax import checkpoint
    from pose3d_jax.inference import engines, predictor

    paths, failures, sequences = [], 0, []
    for given in map(Path, args.inputs):
        if video_io.is_video(given) or (given.is_dir() and getattr(args, "frames", False)):
            sequences.append(given)
            continue
        found = image_io.expand_inputs([given])
        if given.is_dir() and not found:
            print_error(f"folder '{given}' holds no image files (.png, .jpg, ...).")
            failures += 1
        paths.extend(found)
    try:
        runner = predictor.Predictor.from_checkpoint(
            args.checkpoint,
            batch_size=args.batch_size,
            max_pixels=args.max_pixels,
            backend=args.backend,
            flip=args.flip,
            warn=False,
        )
    except (checkpoint.CheckpointError, engines.BackendError) as err:
        print_error(str(err))
        return 1
    about_run = runner.about()
    if about_run["provenance"]["warning"]:
        print(f"warning: {about_run['provenance']['warning']}.", file=sys.stderr)
    out_dir = Path(args.out)
    if sequences:
        from pose3d_jax.inference import video

        failures += video.run_sequences(runner, sequences, out_dir, args)
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
            crop = runner.choose_crop(image, args.bbox, args.detect)
            if crop.note:
                print(f"warning: {path}: {crop.note}.", file=sys.stderr)
            batch.append((path, name, image, crop))
        if batch and (item is None or len(batch) == args.batch_size):
            results = runner.predict_crops(
                [b[2] for b in batch], [b[3] for b in batch], pad_to=pad_to
            )
            for (path, name, image, _), result in zip(batch, results, strict=True):
                try:
                    _write_outputs(out_dir, name, path, image, result, about_run)
                    written += 1
                except OSError as err:
                    print_error(f"could not write the results of '{path}' to '{out_dir}' ({err}).")
                    failures += 1
            batch = []
    if paths or not sequences:
        print(f"wrote {written} of {len(paths)} image results to {out_dir}", file=sys.stderr)
    return 1 if failures else 0
