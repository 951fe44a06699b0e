"""Cold and warm start of `python -m pose3d_jax.infer` on one image; one JSON line.

    python benchmarks/infer_latency.py [--checkpoint DIR] [--tiny] [--runs 2] [--photo-runs 5]

Cold: a new process with empty caches (JAX's persistent compilation cache and
the ONNX export cache, each in a fresh temporary folder). Warm: the same
command again with those caches kept. Both are wall-clock seconds of the whole
command (Python start, imports, restoring, compiling or exporting, one image,
finding its people, writing JSON and PNG), for each backend. Without --checkpoint
an untrained network of the paper's size (or --tiny) is written to a temporary folder.

Photos (needs ../shared/data): a 1280x720 photo of one real person and one of three
(the release's frames pasted in, datasets/pasted_scenes.py), each run warm on the
default CPU backend `--photo-runs` times, interleaved: the trained detector finds
them, the network runs on each, the JSON and PNG are written. The JSON's person
count is checked against the photo's.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose3d_jax.model import network

REPO = Path(__file__).resolve().parents[1]
PAPER_MODEL = {"num_stacks": 2, "num_modules": 2, "num_features": 256, "num_reg_modules": 2}
TINY_MODEL = {"num_stacks": 1, "num_modules": 1, "num_features": 16, "num_reg_modules": 1}


def _image(folder):
    shared = REPO.parent / "shared" / "data" / "images" / "h36m_1214.png"
    if shared.exists():
        return shared
    import cv2

    path = Path(folder) / "frame.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8))
    return path


def _photos(folder):
    """{people: path} of the one- and three-person photos, or {} without ../shared/data."""
    images = REPO.parent / "shared" / "data" / "images"
    if not images.is_dir():
        return {}
    import cv2

    from datasets import pasted_scenes

    frames = pasted_scenes.load_frames(images)
    rng = np.random.default_rng(0)
    one = pasted_scenes.background(rng, 1280, 720)
    pasted_scenes.paste(one, frames["mpi_inf_3dhp_354"], (500, 150, 400))
    three = pasted_scenes.background(rng, 1280, 720)
    for x, name in ((20, "mpii_14"), (440, "mpi_inf_3dhp_354"), (860, "h36m_1214")):
        pasted_scenes.paste(three, frames[name], (x, 160, 400))
    paths = {}
    for people, rgb in ((1, one), (3, three)):
        paths[people] = Path(folder) / f"photo_{people}.jpg"
        cv2.imwrite(str(paths[people]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return paths


def _start(checkpoint, image, backend, caches, out):
    env = {
        **os.environ,
        "POSE3D_JAX_COMPILATION_CACHE": str(caches / "jit"),
        "POSE3D_JAX_EXPORT_CACHE": str(caches / "onnx"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    command = [
        sys.executable,
        "-m",
        "pose3d_jax.infer",
        str(image),
        "--checkpoint",
        str(checkpoint),
    ]
    command += ["--backend", backend, "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"infer failed ({backend}): {done.stderr[-2000:]}")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--tiny", action="store_true", help="a tiny untrained model")
    parser.add_argument("--runs", type=int, default=2, help="cold/warm pairs per backend")
    parser.add_argument("--backends", nargs="+", default=["xla", "onnxruntime"])
    parser.add_argument("--photo-runs", type=int, default=5, help="warm runs per photo")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = args.checkpoint
        model = "given"
        if checkpoint is None:
            model = "tiny" if args.tiny else "paper"
            config = TINY_MODEL if args.tiny else PAPER_MODEL
            checkpoint = tmp / "checkpoint"
            network.write_random_checkpoint(checkpoint, config)
        image = _image(tmp)
        result = {"benchmark": "infer_latency", "model": model, "image": image.name}
        for backend in args.backends:
            cold, warm = [], []
            for run in range(args.runs):
                caches = tmp / f"caches_{backend}_{run}"
                cold.append(_start(checkpoint, image, backend, caches, tmp / "out"))
                warm.append(_start(checkpoint, image, backend, caches, tmp / "out"))
            result[f"{backend}_cold_s"] = round(statistics.median(cold), 2)
            result[f"{backend}_warm_s"] = round(statistics.median(warm), 2)
            result[f"{backend}_cold_s_all"] = [round(v, 2) for v in cold]
            result[f"{backend}_warm_s_all"] = [round(v, 2) for v in warm]
            result[f"{backend}_warm_over_cold"] = round(
                statistics.median(warm) / statistics.median(cold), 3
            )
        photos = _photos(tmp) if args.photo_runs else {}
        if photos:
            caches = tmp / "caches_photos"
            _start(checkpoint, photos[1], "onnxruntime", caches, tmp / "out")  # the export
            times = {people: [] for people in photos}
            for _ in range(args.photo_runs):
                for people, photo in photos.items():
                    out = tmp / "photo_out"
                    times[people].append(_start(checkpoint, photo, "onnxruntime", caches, out))
                    found = json.loads((out / f"{photo.stem}.json").read_text())["num_people"]
                    if found != people:
                        raise SystemExit(f"{photo.name}: {found} people found, not {people}")
            for people, values in times.items():
                result[f"photo_{people}_people_warm_s"] = round(statistics.median(values), 2)
                result[f"photo_{people}_people_warm_s_all"] = [round(v, 2) for v in values]
    result["cpu_count"] = os.cpu_count()
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
