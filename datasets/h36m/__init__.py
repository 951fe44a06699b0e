"""Human3.6M (the authors' preprocessed release) as a TFDS builder.

Import it as `from datasets.h36m import h36m`.
"""
