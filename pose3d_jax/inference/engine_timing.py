"""Images/s of several engines on one network, interleaved (tune_cpu's measurement).

Each round times every engine once per batch size, the order rotated between rounds,
so a neighbour's load or the CPU's clock falls on all of them alike; an engine's rate
is the median over rounds of the median of `calls` timed calls after a warm-up.
"""

import statistics
import time

import numpy as np

BATCHES = (1, 8)


def _median_seconds(fn, calls):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_rates(engines: dict, res: int, rounds=3, calls=3, batches=BATCHES) -> dict:
    """{name: {batch: images/s}} of engines {name: engine(crops)} on random crops."""
    crops = np.random.default_rng(0).uniform(0, 1, (max(batches), res, res, 3))
    crops = crops.astype(np.float32)
    for engine in engines.values():  # warm-up: compile, allocate
        for batch in batches:
            engine(crops[:batch])
    rates = {(name, batch): [] for name in engines for batch in batches}
    names = list(engines)
    for round_index in range(rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for batch in batches:
            for name in order:
                part = crops[:batch]
                seconds = _median_seconds(lambda e=engines[name], x=part: e(x), calls)
                rates[(name, batch)].append(batch / seconds)
    return {
        name: {batch: round(statistics.median(rates[(name, batch)]), 3) for batch in batches}
        for name in names
    }
