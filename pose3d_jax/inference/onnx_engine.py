"""The network's ONNX export in an ONNX Runtime session, and the start that skips JAX.

OnnxRuntimeEngine.for_network exports a restored network (once per weights,
deploy/export_cache.py) and records the export against the checkpoint folder's
files (deploy/export_index.py); warm_start then opens that export for the same
folder without restoring the checkpoint or importing JAX.
"""

import concurrent.futures
import os

import numpy as np

from pose3d_jax import checkpoint
from pose3d_jax.deploy import export_index
from pose3d_jax.detection.model_file import DetectorError
from pose3d_jax.inference.precision import PrecisionError
from pose3d_jax.model import interface

MAX_PARTS = 4  # single-session memory (weights, prepacked) is paid once per part
# Part sessions are made only once this many crops have run in the one session: each
# costs ~0.13 s to make (paper-size network, 2 cores), what the parts' 5-10% saves over
# some 30 crops, so a photo of a few people is not slowed by making them.
PARTS_AFTER_CROPS = 32


def _session(model_path, threads):
    """A CPU session with `threads` intra-op threads (None: ONNX Runtime's default)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
    return onnxruntime.InferenceSession(
        str(model_path), options, providers=["CPUExecutionProvider"]
    )


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class OnnxRuntimeEngine:
    """An ONNX export of the network (deploy/onnx_graph.py) run by ONNX Runtime on the CPU.

    A batch of at least `parts` crops (parts = min(CPUs, MAX_PARTS)) is cut into
    that many pieces that run at the same time, each in its own session of
    CPUs / parts threads (ONNX Runtime releases the GIL): on 2 cores, two
    single-threaded runs of 4 crops were 5-10% faster than one session splitting
    every operator over both (benchmarks/README.md; larger machines unmeasured).
    Smaller batches run in one session, and so does everything until PARTS_AFTER_CROPS
    crops have run: a photo or a few images pay for one session only.
    """

    name = "onnxruntime"
    fixed_shapes = False  # any batch size runs without a new compile

    def __init__(self, model_path, *, threads=None):
        self.model_path = model_path
        self.threads = int(threads) if threads else None
        cpus = self.threads or available_cpus()
        self.parts = max(1, min(cpus, MAX_PARTS))
        self._part_threads = max(1, cpus // self.parts)
        self.session = _session(model_path, self.threads)
        self._part_sessions = None
        self._pool = None
        self.crops_run = 0

    def _run_parts(self, crops):
        if self._part_sessions is None:
            self._part_sessions = [
                _session(self.model_path, self._part_threads) for _ in range(self.parts)
            ]
            self._pool = concurrent.futures.ThreadPoolExecutor(self.parts)
        runs = self._pool.map(
            lambda session, part: session.run(["heatmaps", "depth"], {"image": part}),
            self._part_sessions,
            np.array_split(crops, self.parts),
        )
        heatmaps, depth = zip(*runs, strict=True)
        return np.concatenate(heatmaps), np.concatenate(depth)

    def run(self, crops):
        """(heatmaps, depth) of contiguous float32 crops [B, R, R, 3]."""
        parts_pay = self.crops_run >= PARTS_AFTER_CROPS or self._part_sessions is not None
        self.crops_run += len(crops)
        if self.parts > 1 and len(crops) >= self.parts and parts_pay:
            return self._run_parts(crops)
        return tuple(self.session.run(["heatmaps", "depth"], {"image": crops}))

    @classmethod
    def for_network(cls, network, *, threads=None, cache_directory=None):
        """The engine of a restored model.network.Network (exported on first use)."""
        from pose3d_jax.deploy import export_cache

        model_path = export_cache.cached_onnx(network, cache_directory)
        if network.step_dir is not None:
            export_index.remember(network.step_dir, model_path, cache_directory)
        return cls(model_path, threads=threads)

    def __call__(self, crops_rgb01, *, flip=False):
        crops = np.asarray(crops_rgb01, np.float32)
        batch = crops.shape[0]
        if flip:  # one run of 2B, as XlaEngine does
            crops = np.concatenate([crops, crops[:, :, ::-1, :]], axis=0)
        heatmaps, depth = self.run(np.ascontiguousarray(crops))
        outputs = {"heatmaps": heatmaps[:batch], "depth": depth[:batch]}
        if not flip:
            return outputs
        mirrored = {"heatmaps": heatmaps[batch:], "depth": depth[batch:]}
        return interface.flip_average(outputs, mirrored, xp=np)


def warm_start(path, *, threads=None, cache_directory=None, make_engine=None):
    """(NetworkInfo, engine) of the checkpoint at `path` when an earlier start exported
    it, else None (the caller restores and exports); `make_engine(model_path, info)`
    opens the export (default: an OnnxRuntimeEngine).

    Reads only the step folder's file list and meta JSON; imports no JAX. An
    export the engine cannot open is forgotten, so the caller exports it again.
    """
    if path is None:
        path = checkpoint.default_checkpoint_dir()
        if not path.exists():
            return None  # the restoring path gives the error that says what to do
    step_dir = checkpoint.resolve_step_dir(path)
    model_path = export_index.lookup(step_dir, cache_directory)
    if model_path is None:
        return None
    meta = checkpoint.read_meta(step_dir)
    info = interface.NetworkInfo(meta, step_dir, interface.input_res_of(meta))
    try:
        if make_engine is None:
            engine = OnnxRuntimeEngine(model_path, threads=threads)
        else:
            engine = make_engine(model_path, info)
    except (PrecisionError, DetectorError):
        raise  # not the export's fault: the calibration set or the detector's file
    except Exception:  # noqa: BLE001 - the runtimes raise several types for a bad file
        export_index.forget(step_dir, cache_directory)
        model_path.unlink(missing_ok=True)
        return None
    return info, engine
