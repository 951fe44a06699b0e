"""Poses of each image file of `python -m pose3d_jax.infer`, written as JSON and PNG.

Reads the images one by one (a bad one is reported and skipped), finds the people in
each (the trained detector by default; `--detect network|hog|none` or `--bbox` give
one person), runs all their crops through the network in batches that span images,
and writes NAME.json (records.image_record) and NAME.png per image, each whole or not
at all, with one line per image saying how many people it holds.
"""

import sys
from pathlib import Path

from pose3d_jax.inference import image_io, video_io
from pose3d_jax.inference import precision as precision_lib


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


def picture_png(image, people, caption) -> bytes:
    """The PNG of an image's people: 2D skeletons (colour and index per person) and 3D."""
    from pose3d_jax.inference import draw

    drawn = [(str(i), p.joints_2d, p.joints_3d_mm, i) for i, p in enumerate(people)]
    return draw.png_bytes(draw.picture(image, drawn, caption=caption))


def _write_outputs(out_dir, name, path, image, people, about_run, detection, motion_facts):
    """Writes NAME.json and NAME.png atomically; the PNG first, so a JSON implies both.
    motion_facts: (skeleton name, motion.camera.CameraModel or None)."""
    from pose3d_jax import fileio
    from pose3d_jax.inference import records

    size = (image.shape[1], image.shape[0])
    record = records.image_record(path, size, people, about_run, detection, *motion_facts)
    png_path = fileio.write_bytes_atomic(out_dir / f"{name}.png", picture_png(image, people, ""))
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


def resolve_detection(args):
    """The detection method to use and the line to print about it, or a DetectorError.

    The default (`detector`) with no model file at the default place falls back to the
    network's search, saying so in one line; a file given explicitly, or a damaged one,
    is an error.
    """
    from pose3d_jax.detection import model_file

    method = "none" if args.bbox is not None else args.detect
    if method != "detector":
        return method, None
    explicit = args.detector_model is not None or model_file.from_environment()
    path = model_file.default_path() if args.detector_model is None else Path(args.detector_model)
    if not explicit and not path.exists():
        note = (
            f"no person detector file at '{path}' ({model_file.FIX}); finding one person "
            "per image with --detect network instead"
        )
        return "network", note
    model_file.checked_model(args.detector_model)
    return method, None


def detection_facts(method, args, runner) -> dict:
    """What the JSON says about how the people were found."""
    facts = {"method": "bbox" if args.bbox is not None else method}
    if method == "detector":
        detector = runner.detector
        facts.update(
            model=str(detector.model_path),
            min_score=detector.min_score,
            min_person=detector.min_person,
            max_people=args.max_people,
        )
    return facts


class DetectAhead:
    """Loaded images with the detector's people, each image's detection running in a
    thread while the caller handles the one before (the detector and the network both
    leave the GIL), the first one from construction on: it overlaps the network's start."""

    def __init__(self, loaded, make_detector, max_people):
        """make_detector() -> the detector, made in the thread too (LiteRT's allocation)."""
        import concurrent.futures

        self.loaded, self.max_people = iter(loaded), max_people
        self.pool = concurrent.futures.ThreadPoolExecutor(1)
        self.made = self.pool.submit(make_detector)
        self.next = self.pool.submit(self._find)

    @property
    def detector(self):
        return self.made.result()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _find(self):
        item = next(self.loaded, None)
        if item is None or item[2] is None:
            return item, None
        return item, self.detector(item[2], self.max_people)

    def __iter__(self):
        try:
            while True:
                item, people = self.next.result()
                if item is None:
                    return
                self.next = self.pool.submit(self._find)
                yield (*item, people)
        finally:
            self.close()


def people_crops(runner, image, method, args, found=None):
    """[(Crop, detection.Person or None)] of the people to predict in one image; `found`:
    the detector's people when they were detected already."""
    if method == "detector":
        from pose3d_jax.inference.crops import person_crop

        found = runner.detector(image, args.max_people) if found is None else found
        return [(person_crop(p), p) for p in found]
    crop = runner.choose_crop(image, args.bbox, False if method == "none" else method)
    if crop.note:
        print(f"warning: {crop.note}.", file=sys.stderr)
    return [(crop, None)]


def summary_line(path, people, method):
    from pose3d_jax.inference import records

    if not people:
        return f"{path}: {records.no_person_message(method)}"
    return f"{path}: {len(people)} {'person' if len(people) == 1 else 'people'}"


def run(args) -> int:
    """Processes args.inputs; returns the exit code (0: all written, 1: some failed)."""
    import dataclasses

    from pose3d_jax import checkpoint
    from pose3d_jax.detection import model_file
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
    if args.bvh and paths:
        print_error(
            f"--bvh writes the animation of a video or a frame folder; '{paths[0]}' is a "
            "single image (give a video file, or a folder of numbered frames with --frames)."
        )
        return 2
    names = output_names(paths)
    loaded = _load_all(paths, names, args.max_pixels)
    ahead = None
    try:
        method, note = resolve_detection(args)
        if method == "detector" and paths:
            from pose3d_jax.detection.detector import PersonDetector

            options = detector_options(args)  # the file was checked by resolve_detection
            ahead = DetectAhead(loaded, lambda: PersonDetector(**options), args.max_people)
        runner = predictor.Predictor.from_checkpoint(
            args.checkpoint,
            batch_size=args.batch_size,
            max_pixels=args.max_pixels,
            backend=args.backend,
            flip=args.flip,
            warn=False,
            detector=None if ahead is None else ahead.detector,
            detector_options=detector_options(args),
            camera=args.camera,
            precision=args.precision,
            calibration=args.calibration,
        )
        facts = detection_facts(method, args, runner)
    except (
        checkpoint.CheckpointError,
        engines.BackendError,
        model_file.DetectorError,
        precision_lib.PrecisionError,
    ) as err:
        if ahead is not None:
            ahead.close()
        print_error(str(err))
        return 1
    if note:
        print(f"warning: {note}.", file=sys.stderr)
    if runner.precision.note:
        print(f"warning: {runner.precision.note}.", file=sys.stderr)
    about_run = runner.about()
    if about_run["provenance"]["warning"]:
        print(f"warning: {about_run['provenance']['warning']}.", file=sys.stderr)
    out_dir = Path(args.out)
    if sequences:
        from pose3d_jax.inference import video

        failures += video.run_sequences(runner, sequences, out_dir, args, method, facts)
    pending, written = [], 0

    def flush():
        nonlocal failures, written
        crops = [c for *_, items in pending for c, _ in items]
        images = [image for _, _, image, items in pending for _ in items]
        results = iter(runner.predict_crops(images, crops, pad_to=runner.stream_batch()))
        for path, name, image, items in pending:
            people = [dataclasses.replace(next(results), detection=d) for _, d in items]
            try:
                _write_outputs(
                    out_dir, name, path, image, people, about_run, facts,
                    (args.skeleton, runner.camera),
                )  # fmt: skip
                written += 1
                print(summary_line(path, people, facts["method"]), file=sys.stderr)
            except OSError as err:
                print_error(f"could not write the results of '{path}' to '{out_dir}' ({err}).")
                failures += 1
        pending.clear()

    items = ahead if ahead is not None else ((*item, None) for item in loaded)
    for path, name, image, found in items:
        if image is None:
            failures += 1
            continue
        pending.append((path, name, image, people_crops(runner, image, method, args, found)))
        if sum(len(items) for *_, items in pending) >= args.batch_size:
            flush()
    flush()
    if paths or not sequences:
        print(f"wrote {written} of {len(paths)} image results to {out_dir}", file=sys.stderr)
    return 1 if failures else 0


def detector_options(args) -> dict:
    """PersonDetector's options from infer's flags."""
    options = {"min_score": args.detect_threshold, "min_person": args.min_person}
    if args.detector_model is not None:
        options["model_path"] = args.detector_model
    return options
