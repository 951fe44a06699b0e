"""Builds TFDS shards from the raw releases.

    python -m datasets.prepare --raw_dir RAW --data_dir SHARDS [--datasets h36m,mpii]
                               [--workers N | --beam_options "--runner=... ..."]

RAW holds any of h36m/, mpii/, mpi_inf_3dhp/ (datasets/README.md); each present
one becomes SHARDS/<name>/1.0.0, readable later with
`tfds.builder(name, data_dir=SHARDS)` without importing the builders. With
--workers N > 1 the examples are made by Apache Beam's DirectRunner in N
processes; --beam_options hands any Beam pipeline flags (another runner) over.
"""

import argparse
import importlib
import logging
import shlex
import tempfile
import time
from pathlib import Path

import tensorflow_datasets as tfds

from datasets import errors

# name: (module, class) of each builder; imported only when built.
BUILDERS = {
    "h36m": ("datasets.h36m.h36m", "H36m"),
    "mpii": ("datasets.mpii.mpii", "Mpii"),
    "mpi_inf_3dhp": ("datasets.mpi_inf_3dhp.mpi_inf_3dhp", "MpiInf3dhp"),
}


def builder_class(name: str):
    if name not in BUILDERS:
        raise errors.DatasetError(f"unknown dataset {name!r}; choose from {', '.join(BUILDERS)}")
    module, cls = BUILDERS[name]
    return getattr(importlib.import_module(module), cls)


def beam_options(workers: int = 1, flags: str | None = None):
    """Beam PipelineOptions for `flags` (a command line of Beam flags), or for the
    local DirectRunner in `workers` processes; None (no Beam) for one worker."""
    if not flags and workers <= 1:
        return None
    from apache_beam.options.pipeline_options import PipelineOptions

    if flags:
        return PipelineOptions(shlex.split(flags))
    return PipelineOptions(
        runner="DirectRunner",
        direct_num_workers=int(workers),
        direct_running_mode="multi_processing",
    )


def build(
    name: str,
    raw_dir: Path,
    data_dir: Path,
    skip_bad_images=False,
    overwrite=False,
    workers: int = 1,
    beam_flags: str | None = None,
):
    """Builds one dataset from raw_dir (its own raw folder, e.g. RAW/h36m) into data_dir.

    workers > 1 (or beam_flags) runs the examples through Apache Beam
    (beam_options). Returns the builder; its shards are in builder.data_dir
    (data_dir/name/1.0.0).
    """
    raw_dir = Path(raw_dir)
    errors.require_dir(raw_dir, f"{name} raw data", "point --raw_dir at the folder holding it")
    builder = builder_class(name)(data_dir=str(data_dir), skip_bad_images=skip_bad_images)
    mode = tfds.download.GenerateMode
    config = tfds.download.DownloadConfig(
        manual_dir=str(raw_dir),
        download_mode=mode.REUSE_CACHE_IF_EXISTS if overwrite else mode.REUSE_DATASET_IF_EXISTS,
        compute_stats=tfds.download.ComputeStatsMode.SKIP,
        try_download_gcs=False,
        beam_options=beam_options(workers, beam_flags),
    )
    with tempfile.TemporaryDirectory(prefix="tfds_downloads_") as downloads:  # nothing to download
        try:
            builder.download_and_prepare(download_dir=downloads, download_config=config)
        except errors.DatasetError:
            raise
        except Exception as error:  # a Beam worker's DatasetError comes back wrapped
            message = errors.message_in(error)
            if message is None and "generated examples is 0" in str(error):
                message = f"{name}: no example could be written; check the raw folder {raw_dir}"
            if message is None:
                raise
            raise errors.DatasetError(message) from None
    return builder


def present_datasets(raw_root: Path, names) -> list[str]:
    """The requested datasets whose raw folder exists and is not empty."""
    return [n for n in names if (raw_root / n).is_dir() and any((raw_root / n).iterdir())]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--raw_dir", required=True, type=Path, help="holds h36m/, mpii/, mpi_inf_3dhp/"
    )
    parser.add_argument("--data_dir", required=True, type=Path, help="TFDS data dir for the shards")
    parser.add_argument("--datasets", default=",".join(BUILDERS), help="comma-separated subset")
    parser.add_argument(
        "--skip_bad_images", action="store_true", help="leave out unreadable images"
    )
    parser.add_argument("--overwrite", action="store_true", help="rebuild shards that exist")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes (> 1: Apache Beam DirectRunner)"
    )
    parser.add_argument(
        "--beam_options", default=None, help='Beam pipeline flags, e.g. "--runner=FlinkRunner ..."'
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    for name in names:
        builder_class(name)  # unknown names fail before any work
    todo = present_datasets(args.raw_dir, names)
    if not todo:
        raise SystemExit(
            f"error: no raw data under {args.raw_dir} (expected non-empty subfolders "
            f"{', '.join(names)}); make synthetic ones with "
            f"`python -m datasets.synthetic --out {args.raw_dir}`"
        )
    for name in sorted(set(names) - set(todo)):
        logging.info("%s: no raw folder %s, skipped", name, args.raw_dir / name)
    for name in todo:
        start = time.perf_counter()
        try:
            builder = build(
                name,
                args.raw_dir / name,
                args.data_dir,
                args.skip_bad_images,
                args.overwrite,
                args.workers,
                args.beam_options,
            )
        except errors.DatasetError as error:
            raise SystemExit(f"error: {error}") from None
        counts = {split: info.num_examples for split, info in builder.info.splits.items()}
        logging.info(
            "%s -> %s %s (%.0f s)", name, builder.data_dir, counts, time.perf_counter() - start
        )


if __name__ == "__main__":
    main()
