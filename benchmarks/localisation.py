"""How well each way of choosing the crop finds the person in a large frame; one JSON line.

    python benchmarks/localisation.py [--checkpoint DIR] [--scenes 40] [--seed 0]

Scenes come from datasets/synthetic/wild.py: one synthetic person (the kind the
demo checkpoint is trained on) in a frame 640 to 1920 px wide (4:3 or 16:9, or
portrait), 15-70% of the frame's height tall, a quarter of them touching a
border. For each crop method the same checkpoint predicts the 2D joints:
  centred    the original demo's crop (image centre, the longer side)
  hog        OpenCV's HOG people detector (crops.detect_person), centred if none found
  ours       the network's window search and refinement (localise.py, --detect)
  gt_box     the ground-truth tight box of the joints, with the user-box margin (1.25)
PCK: a joint is correct within half the head segment (head top to upper neck,
H36M style) of the ground truth: PCKh@0.5. The JSON gives PCK (%) per method,
over all joints of all scenes, and seconds per scene.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.synthetic import wild
from pose3d_jax import skeleton
from pose3d_jax.inference import crops
from pose3d_jax.inference.predictor import Predictor

FRAME_SIZES = ((640, 480), (1280, 720), (1920, 1080), (1024, 768), (720, 1280))
HEIGHT_RANGE = (0.15, 0.70)
BORDER_SHARE = 0.25
METHODS = ("centred", "hog", "ours", "gt_box")


def scenes(count, seed):
    rng = np.random.default_rng(seed)
    for i in range(count):
        width, height = FRAME_SIZES[i % len(FRAME_SIZES)]
        fraction = rng.uniform(*HEIGHT_RANGE)
        yield wild.random_scene(
            rng, width, height, fraction, near_border=rng.random() < BORDER_SHARE
        )


def head_segment(joints):
    head = skeleton.JOINT_NAMES.index("head_top")
    neck = skeleton.JOINT_NAMES.index("upper_neck")
    return float(np.linalg.norm(joints[head] - joints[neck]))


def correct_joints(predicted, truth, fraction=0.5):
    """[16] bool: within `fraction` x the head segment of the truth."""
    distance = np.linalg.norm(np.asarray(predicted) - truth, axis=-1)
    return distance <= fraction * head_segment(truth)


def crop_for(method, predictor, scene):
    if method == "centred":
        return crops.centred_crop(scene.image.shape[1], scene.image.shape[0])
    if method == "hog":
        return predictor.choose_crop(scene.image, None, "hog")
    if method == "ours":
        return predictor.choose_crop(scene.image, None, True)
    return crops.box_crop(scene.box)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the demo checkpoint")
    parser.add_argument("--scenes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default=None)
    args = parser.parse_args(argv)
    predictor = Predictor.from_checkpoint(args.checkpoint, backend=args.backend, warn=False)
    hits = {m: [] for m in METHODS}
    seconds = {m: 0.0 for m in METHODS}
    count = 0
    for scene in scenes(args.scenes, args.seed):
        count += 1
        for method in METHODS:
            start = time.perf_counter()
            crop = crop_for(method, predictor, scene)
            prediction = predictor.predict_crops([scene.image], [crop])[0]
            seconds[method] += time.perf_counter() - start
            hits[method].append(correct_joints(prediction.joints_2d, scene.joints_2d))
    result = {
        "benchmark": "localisation",
        "scenes": count,
        "seed": args.seed,
        "threshold": "PCKh@0.5 (half the head segment)",
        "checkpoint": str(predictor.network.step_dir),
        "backend": predictor.engine.name,
    }
    for method in METHODS:
        result[f"pck_{method}"] = round(100.0 * float(np.mean(hits[method])), 2)
        result[f"s_per_scene_{method}"] = round(seconds[method] / count, 3)
    result["ours_minus_gt_box"] = round(result["pck_ours"] - result["pck_gt_box"], 2)
    result["ours_minus_best_baseline"] = round(
        result["pck_ours"] - max(result["pck_centred"], result["pck_hog"]), 2
    )
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
