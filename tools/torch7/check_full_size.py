"""The full-size original network written by real Torch7, converted, against Torch7's outputs.

    .venv/bin/python tools/torch7/check_full_size.py PREFIX [--inputs 3] [--keep DIR]

PREFIX is a Torch7 built by tools/build_torch7.sh. Builds hgreg-3d at the paper's size
(256 features, 2 stacks, 2 modules, 2 depth-head modules) with the original's own model
code (tools/torch7/write_models.lua), runs it in Torch7 on `--inputs` images, converts
the nn file (after clearState), the float file and the cudnn-named file with
`pose3d_jax.weights.convert`, and prints one JSON line: the parameter count Torch7
reports and the largest absolute difference of our heatmaps (every stack) and depths
from Torch7's. Not run by CI (it needs Torch7; ~1 GB of temporary files, minutes).
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pose3d_jax.model import network  # noqa: E402
from pose3d_jax.weights import torch7  # noqa: E402
from pose3d_jax.weights.convert import convert  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", type=Path)
    parser.add_argument("--inputs", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="keep the files here")
    args = parser.parse_args(argv)
    import torchfile

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        models = args.prefix / "src" / "pose-hg-3d" / "src" / "models"
        script = REPO / "tools" / "torch7" / "write_models.lua"
        command = [str(args.prefix / "bin" / "luajit"), str(script), str(models), str(work)]
        done = subprocess.run(
            [*command, "256", "2", "2", "2", "1", str(args.inputs)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        params = int(re.search(r"(\d+) parameters", done.stdout)[1])
        io = torchfile.load(str(work / "io.t7"), use_list_heuristic=False)
        images = np.transpose(np.asarray(io[b"input"]).astype(np.float32) / 255.0, (0, 2, 3, 1))
        heatmaps = [np.asarray(h) for h in torch7.lua_list(io[b"heatmaps"])]
        depth = np.asarray(io[b"depth"])
        result = {"check": "torch7_full_size", "torch7_parameters": params,
                  "inputs": args.inputs}  # fmt: skip
        for name in ("model_clearstate", "model_float", "model_cudnn"):
            out, meta = convert(work / f"{name}.t7", work / f"{name}_converted")
            loaded = network.load_network(out)
            ours = loaded.model.apply(loaded.variables, images, train=False)
            diff_hm = max(
                float(np.abs(np.transpose(np.asarray(ours["heatmaps"][s]), (0, 3, 1, 2)) - h).max())
                for s, h in enumerate(heatmaps)
            )
            result[f"{name}_max_abs_heatmaps"] = diff_hm
            result[f"{name}_max_abs_depth"] = float(np.abs(np.asarray(ours["depth"]) - depth).max())
        result["heatmap_scale"] = float(np.abs(heatmaps[-1]).max())
        result["depth_scale"] = float(np.abs(depth).max())
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
