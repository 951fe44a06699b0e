"""MPII Human Pose as a TFDS builder: `from datasets.mpii import mpii`."""
