"""The input side of training and evaluation: tf.data over the shards on the host
(input_pipeline.py, the package's only TensorFlow user) and augmentation and
target rendering on the device (augment.py). Imports the foundation modules only."""
