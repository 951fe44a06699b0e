"""Cold and warm start of `python -m pose3d_jax.infer` on one image; one JSON line.

    python benchmarks/infer_latency.py [--checkpoint DIR] [--tiny] [--runs 2]

Cold: a new process with empty caches (JAX's persistent compilation cache and
the ONNX export cache, each in a fresh temporary folder). Warm: the same
command again with those caches kept. Both are wall-clock seconds of the whole
command (Python start, imports, restoring, compiling or exporting, one image,
writing JSON and PNG), for each backend. Without --checkpoint an untrained
network of the paper's size (or --tiny) is written to a temporary folder.
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
    result["cpu_count"] = os.cpu_count()
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
