"""Command line: the authors' weights (SPEC 8) as a pose3d_jax checkpoint.

    python -m pose3d_jax.convert hgreg-3d.pth --out DIR [--trust-pickle]
    python -m pose3d_jax.convert hgreg-3d.t7 --out DIR

Flags only; the mapping is pose3d_jax.weights.convert (PyTorch) and
pose3d_jax.weights.torch7 (the original's Torch7 nngraph file).
"""

import argparse
import sys

from pose3d_jax import checkpoint
from pose3d_jax.weights.convert import ConversionError, convert, describe


def main(argv=None):
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m pose3d_jax.convert",
        description="Convert the authors' hgreg-3d weights (PyTorch .pth or the original's "
        "Torch7 .t7) to a pose3d_jax checkpoint.",
    )
    parser.add_argument(
        "model", help="the .pth (state_dict, {'state_dict': ...} or model) or .t7 (gModule) file"
    )
    parser.add_argument("--out", required=True, help="new or empty folder for the checkpoint")
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a whole pickled model (such as the authors' hgreg-3d.pth); unpickling "
        "can run code from the file, so use it only for files from a source you trust",
    )
    args = parser.parse_args(argv)
    try:
        out, meta = convert(args.model, args.out, trust_pickle=args.trust_pickle)
    except (ConversionError, checkpoint.CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    convention = meta["input"]
    print(
        f"wrote {out} (hgreg-3d: {describe(meta['model'])}; input {meta['source']['input_size']} "
        f"px, {convention['channel_order'].upper()} / {convention['divisor']:g}). "
        f"Run: python -m pose3d_jax.infer IMAGE --checkpoint {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
