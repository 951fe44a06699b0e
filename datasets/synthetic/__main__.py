"""`python -m datasets.synthetic --out RAW [--num_h36m N --num_mpii N --num_3dhp N --seed S]`."""

import argparse
import logging
import time

from datasets import synthetic


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=synthetic.__doc__.splitlines()[0])
    parser.add_argument(
        "--out", required=True, help="raw data root (gets h36m/, mpii/, mpi_inf_3dhp/)"
    )
    parser.add_argument(
        "--num_h36m", type=int, default=synthetic.DEFAULT_NUM_H36M, help="released frames"
    )
    parser.add_argument("--num_mpii", type=int, default=synthetic.DEFAULT_NUM_MPII, help="persons")
    parser.add_argument("--num_3dhp", type=int, default=synthetic.DEFAULT_NUM_3DHP, help="frames")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    written = synthetic.generate(args.out, args.num_h36m, args.num_mpii, args.num_3dhp, args.seed)
    for name, counts in written.items():
        logging.info("%s: %s", name, counts)
    logging.info("wrote %s in %.1f s", args.out, time.perf_counter() - start)


if __name__ == "__main__":
    main()
