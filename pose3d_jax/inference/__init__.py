"""Inference on users' images: the crop choice (crops.py), the Predictor that
notebooks call (predictor.py), image reading (image_io.py), drawing
(visualize.py) and the image loop behind `python -m pose3d_jax.infer`
(images.py). The restored network itself is pose3d_jax.model.network."""
