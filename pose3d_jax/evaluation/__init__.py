"""The paper's evaluation protocols (SPEC 6): metrics as (sum, count) totals
(metrics.py), predictions on stored crops (predict.py), the protocols and
their tables (protocols.py), the mean-pose baseline (baseline.py) and a
checkpoint's evaluation over the shards (run.py, behind `python -m
pose3d_jax.evaluate`)."""
