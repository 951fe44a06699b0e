"""How well each way of choosing the crop finds the people in a large frame; one JSON line.

    python benchmarks/localisation.py [--checkpoint DIR] [--scenes 40] [--real-scenes 40]
        [--seed 0] [--real-seed 100]

Two sets of scenes, the same methods on each:
  centred    the original demo's crop (image centre, the longer side): one person
  hog        OpenCV's HOG people detector (crops.detect_person): one person, centred if none
  network    the network's window search and refinement (localise.py, --detect network)
  detector   the trained person detector (pose3d_jax/detection, the default): every person;
             on the synthetic scenes its best-scoring person (centred if none)
  gt_box     the ground-truth box, with the user-box margin (1.25)

Synthetic scenes (datasets/synthetic/wild.py): one synthetic person (the kind the demo
checkpoint is trained on) in a frame 640 to 1920 px wide, 15-70% of its height tall, a
quarter touching a border; the same checkpoint predicts the 2D joints from each method's
crop and a joint is correct within half the head segment (PCKh@0.5).

Real scenes (datasets/pasted_scenes.py, needs ../shared/data): the release's real person
frames pasted into 640x480 to 1920x1080 frames at 30-60% of the shorter side, 30% of
them reaching over a border: half the scenes hold one person (single), half two to four
(multi). No joints are known there, so each method's boxes are matched to the pasted
frames' squares (IoU >= 0.5 on the parts inside the frame): recall, false positives per
scene, seconds per scene. A one-person method can find at most one person per scene.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets import pasted_scenes
from datasets.synthetic import wild
from pose3d_jax import skeleton
from pose3d_jax.inference import crops
from pose3d_jax.inference.predictor import Predictor

FRAME_SIZES = ((640, 480), (1280, 720), (1920, 1080), (1024, 768), (720, 1280))
HEIGHT_RANGE = (0.15, 0.70)
BORDER_SHARE = 0.25
METHODS = ("centred", "hog", "network", "detector", "gt_box")
SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"


def scenes(count, seed):
    rng = np.random.default_rng(seed)
    for i in range(count):
        width, height = FRAME_SIZES[i % len(FRAME_SIZES)]
        fraction = rng.uniform(*HEIGHT_RANGE)
        yield wild.random_scene(
            rng, width, height, fraction, near_border=rng.random() < BORDER_SHARE
        )


def real_scenes(count, seed, frames):
    """(kind, Scene): 'single' and 'multi' alternately."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        width, height = FRAME_SIZES[i % len(FRAME_SIZES)]
        people = 1 if i % 2 == 0 else int(rng.integers(2, 5))
        yield (
            ("single" if people == 1 else "multi"),
            pasted_scenes.random_scene(rng, frames, width, height, people),
        )


def head_segment(joints):
    head = skeleton.JOINT_NAMES.index("head_top")
    neck = skeleton.JOINT_NAMES.index("upper_neck")
    return float(np.linalg.norm(joints[head] - joints[neck]))


def correct_joints(predicted, truth, fraction=0.5):
    """[16] bool: within `fraction` x the head segment of the truth."""
    distance = np.linalg.norm(np.asarray(predicted) - truth, axis=-1)
    return distance <= fraction * head_segment(truth)


def crops_for(method, predictor, image, truth_boxes):
    """The crops a method gives for an image (every person for the detector)."""
    if method == "centred":
        return [crops.centred_crop(image.shape[1], image.shape[0])]
    if method == "hog":
        return [predictor.choose_crop(image, None, "hog")]
    if method == "network":
        return [predictor.choose_crop(image, None, "network")]
    if method == "detector":
        return [crops.person_crop(p) for p in predictor.detector(image)]
    return [crops.box_crop(box) for box in truth_boxes]


def synthetic_part(predictor, count, seed):
    hits = {m: [] for m in METHODS}
    seconds = {m: 0.0 for m in METHODS}
    for scene in scenes(count, seed):
        for method in METHODS:
            start = time.perf_counter()
            if method == "detector":
                found = [predictor.best_person_crop(scene.image)]
            else:
                found = crops_for(method, predictor, scene.image, [scene.box])
            prediction = predictor.predict_crops([scene.image], found[:1])[0]
            seconds[method] += time.perf_counter() - start
            hits[method].append(correct_joints(prediction.joints_2d, scene.joints_2d))
    out = {}
    for method in METHODS:
        out[f"pck_{method}"] = round(100.0 * float(np.mean(hits[method])), 2)
        out[f"s_per_scene_{method}"] = round(seconds[method] / count, 3)
    return out


def real_part(predictor, count, seed):
    frames = pasted_scenes.load_frames(SHARED_IMAGES)
    tally = {(k, m): [0, 0, 0, 0.0, 0] for k in ("single", "multi") for m in METHODS}
    for kind, scene in real_scenes(count, seed, frames):
        size = scene.image.shape[1::-1]
        for method in METHODS:
            start = time.perf_counter()
            found = crops_for(method, predictor, scene.image, scene.truth)
            elapsed = time.perf_counter() - start
            hits, extra = pasted_scenes.match(scene.truth, [c.box() for c in found], size)
            row = tally[(kind, method)]
            row[0], row[1], row[2] = row[0] + hits.sum(), row[1] + len(hits), row[2] + extra
            row[3], row[4] = row[3] + elapsed, row[4] + 1
    out = {}
    for (kind, method), (found, total, extra, seconds, n) in tally.items():
        out[f"real_{kind}_recall_{method}"] = round(found / max(total, 1), 3)
        out[f"real_{kind}_fp_per_scene_{method}"] = round(extra / max(n, 1), 2)
        out[f"real_{kind}_s_per_scene_{method}"] = round(seconds / max(n, 1), 3)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the demo checkpoint")
    parser.add_argument("--scenes", type=int, default=40, help="synthetic scenes")
    parser.add_argument("--real-scenes", type=int, default=40, help="scenes of real frames")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-seed", type=int, default=100, help="100: unseen in tuning")
    parser.add_argument("--backend", default=None)
    args = parser.parse_args(argv)
    predictor = Predictor.from_checkpoint(args.checkpoint, backend=args.backend, warn=False)
    result = {
        "benchmark": "localisation",
        "scenes": args.scenes,
        "seed": args.seed,
        "threshold": "PCKh@0.5 (half the head segment); real scenes: box IoU >= 0.5",
        "checkpoint": str(predictor.network.step_dir),
        "backend": predictor.engine.name,
    }
    if args.scenes:
        result.update(synthetic_part(predictor, args.scenes, args.seed))
    if args.real_scenes and SHARED_IMAGES.is_dir():
        result.update(real_scenes=args.real_scenes, real_seed=args.real_seed)
        result.update(real_part(predictor, args.real_scenes, args.real_seed))
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
