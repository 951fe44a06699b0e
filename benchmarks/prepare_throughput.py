"""Shard-writing throughput of `datasets.prepare`: images/s with 1 and 2 workers.

Writes a synthetic raw set (datasets.synthetic, default sizes) to a temporary
directory, then builds every dataset once per worker count: 1 worker is the
plain single-process path, N > 1 Apache Beam's DirectRunner in N processes
(multi_processing). Prints one JSON line:
  images                      examples written per dataset (the same for every worker count)
  workers.<N>.seconds         wall time of the N-worker builds, per dataset and in all
  workers.<N>.images_per_s    examples written / wall seconds, per dataset and in all
  h36m_per_image_ms.<N>       H36M's wall milliseconds per image at N workers
  tiny_build_seconds.<N>      the untimed warm-up builds (a few images each): the fixed cost
                              of a build, for N > 1 mostly starting Beam's worker processes
  cpu_count                   cores this process may use

  .venv/bin/python benchmarks/prepare_throughput.py [--workers 1,2] [--num_h36m 1600 ...]
"""

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets import prepare, synthetic

NAMES = ("h36m", "mpii", "mpi_inf_3dhp")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--num_h36m", type=int, default=synthetic.DEFAULT_NUM_H36M)
    parser.add_argument("--num_mpii", type=int, default=synthetic.DEFAULT_NUM_MPII)
    parser.add_argument("--num_3dhp", type=int, default=synthetic.DEFAULT_NUM_3DHP)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


@contextlib.contextmanager
def stdout_to_stderr():
    """TFDS and Beam's workers print progress to stdout; the JSON line alone goes there."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def build_all(raw: Path, out: Path, workers: int) -> tuple[dict, dict]:
    """(seconds, examples) per dataset of one build of every dataset."""
    seconds, examples = {}, {}
    for name in NAMES:
        start = time.perf_counter()
        with stdout_to_stderr():
            builder = prepare.build(name, raw / name, out, workers=workers)
        seconds[name] = time.perf_counter() - start
        examples[name] = sum(split.num_examples for split in builder.info.splits.values())
    return seconds, examples


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.disable(logging.WARNING)
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    result = {"workers": {}, "h36m_per_image_ms": {}, "cpu_count": len(os.sched_getaffinity(0))}
    with tempfile.TemporaryDirectory(prefix="prepare_throughput_") as tmp:
        raw = Path(tmp) / "raw"
        start = time.perf_counter()
        with stdout_to_stderr():
            synthetic.generate(raw, args.num_h36m, args.num_mpii, args.num_3dhp, args.seed)
        result["generate_seconds"] = round(time.perf_counter() - start, 2)
        # Warm-up (imports, TensorFlow's start) on a tiny set, not timed.
        with stdout_to_stderr():
            synthetic.generate(Path(tmp) / "warm", 14, 3, 12, args.seed)
        # Their times (a few images each) show each build's fixed cost, e.g. Beam's start.
        tiny = result["tiny_build_seconds"] = {}
        for workers in sorted(set(counts)):
            seconds, _ = build_all(Path(tmp) / "warm", Path(tmp) / f"warm_{workers}", workers)
            tiny[str(workers)] = {n: round(s, 2) for n, s in seconds.items()}
        for workers in counts:
            seconds, examples = build_all(raw, Path(tmp) / f"shards_{workers}", workers)
            result["images"] = examples
            total_s, total_n = sum(seconds.values()), sum(examples.values())
            rates = {n: round(examples[n] / seconds[n], 1) for n in NAMES}
            times = {n: round(s, 2) for n, s in seconds.items()}
            result["workers"][str(workers)] = {
                "seconds": times | {"all": round(total_s, 2)},
                "images_per_s": rates | {"all": round(total_n / total_s, 1)},
            }
            per_image = 1000 * seconds["h36m"] / examples["h36m"]
            result["h36m_per_image_ms"][str(workers)] = round(per_image, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
