"""The GPU check's results: merge its per-run outputs into one JSON file, print the table.

    python benchmarks/gpu_results.py merge RUN_DIR OUT_DIR [--gpu NAME] [--date YYYY-MM-DD]
    python benchmarks/gpu_results.py table benchmarks/results/gpu_check_DATE_GPU.json

`merge` reads what benchmarks/gpu_check.sh left in RUN_DIR: `runs.tsv` (one line per
run: name, start, rc, wall seconds, timeout seconds) and, per run, NAME.json (its
stdout: device_step_throughput's one JSON line, or pytorch_throughput --train-runs'
line per run), and writes OUT_DIR/gpu_check_<date>_<gpu>.json, which it prints the
path of. A run that timed out or failed is kept with its status and no numbers.

`table` prints the markdown table of benchmarks/README.md's GPU section: ours against
PyTorch per batch and dtype, from one such file.
"""

import argparse
import datetime
import json
import re
import sys
from pathlib import Path

STATUS = {0: "ok", 124: "timeout", 137: "timeout (killed)", -1: "skipped"}


def read_json_lines(path):
    """The JSON objects of a run's stdout, lines that are not JSON left out."""
    objects = []
    if not Path(path).exists():
        return objects
    for line in Path(path).read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return objects


def read_schedule(run_dir):
    """runs.tsv as dicts: name, start ('first' or 'second'), rc, wall_s, timeout_s."""
    rows = []
    tsv = Path(run_dir) / "runs.tsv"
    for line in tsv.read_text().splitlines() if tsv.exists() else []:
        if not line.strip():
            continue
        name, start, rc, wall, limit = line.split("\t")[:5]
        rows.append({
            "name": name, "start": start, "rc": int(rc), "wall_s": float(wall),
            "timeout_s": float(limit),
        })  # fmt: skip
    return rows


def _jax_runs(obj):
    """The per-configuration rows of a device_step_throughput line, with its process's facts."""
    facts = {
        key: obj.get(key)
        for key in ("device", "backend", "jax_version", "xla_flags", "gpu_flags_added", "model")
    }
    rows = []
    for run in obj.get("runs", []):
        row = {**run, **facts, "framework": "jax"}
        for key in ("cache_hits", "cache_misses"):
            if key in obj:
                row[key] = obj[key]
        if len(obj["runs"]) == 1 and run.get("peak_gb") is None:
            row["peak_gb"] = obj.get("peak_device_gb")
        rows.append(row)
    return rows


def merge(run_dir, gpu=None, date=None, extra=None):
    """The one result dict of a GPU check's RUN_DIR."""
    run_dir = Path(run_dir)
    runs = []
    for entry in read_schedule(run_dir):
        objects = read_json_lines(run_dir / f"{entry['name']}.json")
        status = STATUS.get(entry["rc"], f"failed (rc {entry['rc']})")
        measured = []
        for obj in objects:
            if obj.get("benchmark") == "device_step_throughput":
                measured.extend(_jax_runs(obj))
            elif obj.get("framework") == "pytorch":
                measured.append(obj)
        if not measured:
            no_line = "ok but no result line" if status == "ok" else status
            runs.append({**entry, "status": no_line})
        for row in measured:  # a torch run that timed out keeps the lines it printed
            runs.append({**entry, "status": status, **row})
    devices = {r.get("device") for r in runs if r.get("device")}
    gpu = gpu or (sorted(devices)[0] if devices else "unknown")
    return {
        "benchmark": "gpu_check",
        "date": date or datetime.date.today().isoformat(),
        "gpu": gpu,
        "runs": runs,
        **(extra or {}),
    }


def file_name(result):
    """gpu_check_<date>_<gpu>.json, the GPU's name with its spaces and slashes as dashes."""
    gpu = re.sub(r"[^A-Za-z0-9._-]+", "-", result["gpu"]).strip("-") or "unknown"
    return f"gpu_check_{result['date']}_{gpu}.json"


def _fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def table(result):
    """Markdown: per (batch, dtype) ours and PyTorch's images/s, ratio, compile/warm-up, memory."""
    first = [r for r in result["runs"] if r.get("start") == "first"]
    cells = {}
    for r in first:
        if "train_images_per_s" not in r:
            continue
        key = (r["per_device_batch"], r["dtype"])
        cells.setdefault(key, {})[r["framework"]] = r
    failed = [r for r in first if "train_images_per_s" not in r]
    lines = [
        f"{result['gpu']}, {result['date']} (`benchmarks/results/{file_name(result)}`):",
        "",
        "| batch | dtype | ours images/s | PyTorch images/s | ours / PyTorch "
        "| our compile s | PyTorch warm-up s | our peak GB | PyTorch peak GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (batch, dtype), pair in sorted(cells.items()):
        ours, torch = pair.get("jax", {}), pair.get("pytorch", {})
        a, b = ours.get("train_images_per_s"), torch.get("train_images_per_s")
        ratio = f"{a / b:.2f}" if a and b else "-"
        lines.append(
            f"| {batch} | {dtype} | {_fmt(a)} | {_fmt(b)} | {ratio} | "
            f"{_fmt(ours.get('compile_s'))} | {_fmt(torch.get('warmup_s'), 2)} | "
            f"{_fmt(ours.get('peak_gb'), 2)} | {_fmt(torch.get('peak_gb'), 2)} |"
        )
    notes = []
    for r in result["runs"]:
        if r.get("start") == "second" and "compile_s" in r:
            notes.append(
                f"Second start ({r['name']}): compile {r['compile_s']:.1f} s, "
                f"{r.get('cache_hits', '?')} cache hits, {r.get('cache_misses', '?')} misses."
            )
        elif r.get("start") == "second":
            notes.append(f"Second start ({r['name']}): {r['status']}.")
    notes += [f"{r['name']}: {r['status']} after {r['wall_s']:.0f} s." for r in failed]
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("merge")
    m.add_argument("run_dir")
    m.add_argument("out_dir")
    m.add_argument("--gpu")
    m.add_argument("--date")
    m.add_argument("--extra", help="a JSON file of facts to add (versions, host)")
    t = sub.add_parser("table")
    t.add_argument("result")
    args = parser.parse_args(argv)
    if args.command == "merge":
        extra = json.loads(Path(args.extra).read_text()) if args.extra else None
        result = merge(args.run_dir, gpu=args.gpu, date=args.date, extra=extra)
        out = Path(args.out_dir) / file_name(result)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(out)
        return out
    text = table(json.loads(Path(args.result).read_text()))
    print(text)
    return text


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
