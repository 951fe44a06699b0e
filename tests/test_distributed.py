"""Multi-process training (SPEC 5): two localhost processes with jax.distributed and
gloo CPU collectives train 2 steps and agree with one process on the same global batch."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from distributed_worker import (
    NUM_PROCESSES,
    NUM_STEPS,
    flat_params,
    float64_config,
    global_batches,
    run_steps,
)

from pose3d_jax.training import distributed

TESTS = Path(__file__).resolve().parent
WORKER = TESTS / "distributed_worker.py"
TIMEOUT_S = 480  # each process compiles the step (~1 min CPU); 2 cores, maybe shared


def test_initialize_from_environment_does_nothing_without_the_address():
    assert distributed.initialize_from_environment({}) is False
    assert distributed.initialize_from_environment({distributed.ENV_ID: "0"}) is False


def test_initialize_from_environment_names_the_missing_variables():
    address = {distributed.ENV_ADDRESS: "127.0.0.1:1234"}
    with pytest.raises(ValueError, match="JAX_NUM_PROCESSES, JAX_PROCESS_ID is not"):
        distributed.initialize_from_environment(address)
    with pytest.raises(ValueError, match="but JAX_PROCESS_ID is not"):
        distributed.initialize_from_environment({**address, distributed.ENV_COUNT: "2"})
    with pytest.raises(ValueError, match="but JAX_NUM_PROCESSES is not"):
        distributed.initialize_from_environment({**address, distributed.ENV_ID: "0"})


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_environment(port, process_id):
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    env.update(
        XLA_FLAGS="--xla_force_host_platform_device_count=1",
        JAX_PLATFORMS="cpu",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([str(TESTS.parent), str(TESTS)]),
        **{
            distributed.ENV_ADDRESS: f"127.0.0.1:{port}",
            distributed.ENV_COUNT: str(NUM_PROCESSES),
            distributed.ENV_ID: str(process_id),
        },
    )
    return env


def _tail(path, lines=40):
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def _run_workers(tmp_path):
    """Starts the processes, waits for both; their .npz outputs."""
    port = _free_port()
    procs, outs, logs = [], [], []
    for i in range(NUM_PROCESSES):
        outs.append(tmp_path / f"process_{i}.npz")
        logs.append(tmp_path / f"process_{i}.log")
        with open(logs[i], "w") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(WORKER), str(outs[i])],
                    env=_worker_environment(port, i),
                    cwd=TESTS.parent,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        for p in procs:
            p.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
            p.wait()
        pytest.fail(
            f"workers still running after {TIMEOUT_S} s:\n"
            + "\n".join(f"--- process {i}\n{_tail(log)}" for i, log in enumerate(logs))
        )
    for i, (p, log) in enumerate(zip(procs, logs, strict=True)):
        assert p.returncode == 0, f"process {i} exited {p.returncode}:\n{_tail(log)}"
    return [dict(np.load(out)) for out in outs]


@pytest.mark.slow
def test_two_processes_train_like_one(tmp_path):
    """Two processes of 1 CPU device, each with half of the global batch of 4, run 2
    steps whose gradients, BatchNorm statistics and losses are averaged over both
    processes through gloo; one process with the whole batch on 1 device gets the same
    parameters. Float64 for the reason given in test_train.py (this tiny net amplifies
    rounding-level differences ~1000x per step in float32)."""
    results = _run_workers(tmp_path)

    with jax.enable_x64(True):
        initial, final, losses = run_steps(float64_config(), global_batches(), num_devices=1)
    reference = {f"params/{k}": v for k, v in flat_params(final.params).items()}
    start = {f"params/{k}": v for k, v in flat_params(initial.params).items()}

    for result in results:
        assert int(result["step"]) == NUM_STEPS
        assert set(result) - {"losses", "step"} == set(reference)
    names = sorted(reference)
    assert reference[names[0]].dtype == np.float64
    for name in names:
        np.testing.assert_array_equal(results[0][name], results[1][name], err_msg=name)
    difference = max(float(np.abs(results[0][k] - reference[k]).max()) for k in names)
    print(f"max |two processes - one process| over params: {difference:.3g}")
    assert difference < 1e-5
    for result in results:
        np.testing.assert_allclose(result["losses"], losses, rtol=1e-6)
    moved = max(float(np.abs(reference[k] - start[k]).max()) for k in names)
    assert moved > 1e-3  # the steps did train
