"""Inference on users' images and videos: the crop choice (crops.py), the Predictor
that notebooks call (predictor.py: one person, or every person the detector finds),
image reading (image_io.py), pictures (draw.py for the CLI, visualize.py for
notebooks), the JSON records (records.py) and the loops behind `python -m
pose3d_jax.infer` (images.py, video.py). People are found by pose3d_jax.detection and
followed by pose3d_jax.tracking; the restored network itself is pose3d_jax.model.network."""
