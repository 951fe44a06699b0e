"""Host input pipeline: read shards, mix sources, decode JPEGs, batch per device.

The host does I/O and JPEG decoding only (tf.data); cropping, augmentation and
heatmaps happen on the device in pose3d_jax.data.augment. This is the only module of
the package that imports TensorFlow, and it hides the accelerators from TF so
that TF never reserves their memory.

Batches are dicts of arrays shaped [local devices, per-device batch, ...].

Data order and resuming. The training stream is a pure function of (data_dir,
sources, ratio_3d, batch_size, seed, process_index, process_count,
shuffle_buffer): every shuffle and the per-sample source choice are seeded, and
tf.data keeps element order deterministic. `create_train_dataset(...,
start_step=N)` yields exactly the batches an uninterrupted run sees from step N
on: the records of the first N steps are read and shuffled but skipped before
JPEG decoding, so resuming costs reading N * host_batch records (no decoding),
not replaying the training. Keep the seed and the batch geometry when resuming.
"""

import collections
import itertools
import math
import zlib
from pathlib import Path

import jax
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from pose3d_jax.data import augment

TRAIN_SPLIT = "train"
TRAIN_KEYS = augment.INPUT_KEYS  # what the device-side augmentation reads
IMAGE_KEY = "image"
MASK_KEY = "mask"
# Sources with depth targets; together they make ratio_3d of the training samples.
THREE_D_SOURCES = ("h36m",)
DEFAULT_SHUFFLE_BUFFER = 1024
PREPARE_HINT = "build it with `python -m datasets.prepare --raw_dir RAW --data_dir {}`"


def _hide_accelerators_from_tf():
    """TF must not reserve accelerator memory that JAX needs."""
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # TF already initialised its devices; nothing to hide any more
        pass


def _version_or_none(path):
    try:
        return tfds.core.Version(path.name)
    except ValueError:
        return None


def dataset_dir(data_dir, name):
    """The newest prepared version directory of dataset `name` under data_dir.

    Raises:
      FileNotFoundError: naming the directory, when no shards of `name` are there.
    """
    root = Path(data_dir) / name
    versions = [
        info.parent
        for info in root.glob("**/dataset_info.json")
        if _version_or_none(info.parent) and not info.parent.parent.name.startswith("incomplete")
    ]
    if not versions:
        raise FileNotFoundError(
            f"No prepared '{name}' shards in {root}; " + PREPARE_HINT.format(data_dir)
        )
    return max(versions, key=_version_or_none)


def _builder(data_dir, name, split):
    builder = tfds.builder_from_directory(str(dataset_dir(data_dir, name)))
    if split not in builder.info.splits:
        raise ValueError(
            f"The '{name}' shards in {builder.data_dir} have no split '{split}' "
            f"(they have {', '.join(builder.info.splits)})."
        )
    return builder


def _seed(seed, process_index, stream):
    """A stable 31-bit seed per (seed, process, named stream)."""
    entropy = [seed, process_index, zlib.crc32(stream.encode())]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)


def _process_and_devices(process_index, process_count, num_local_devices):
    return (
        jax.process_index() if process_index is None else process_index,
        jax.process_count() if process_count is None else process_count,
        jax.local_device_count() if num_local_devices is None else num_local_devices,
    )


def host_batch_size(batch_size, process_count, num_local_devices):
    """This host's share of the global batch; an error if it does not split evenly."""
    if batch_size % (process_count * num_local_devices):
        raise ValueError(
            f"The global batch size {batch_size} must be divisible by the number of devices "
            f"({process_count} processes x {num_local_devices} local devices)."
        )
    return batch_size // process_count


def mixing_weights(sources, ratio_3d):
    """Sampling probability of each source: 3D sources share ratio_3d, the rest the remainder.

    With only 3D or only 2D sources the ratio does not apply and they share evenly.
    """
    if not 0.0 <= ratio_3d <= 1.0:
        raise ValueError(f"ratio_3d must lie in [0, 1], got {ratio_3d}.")
    is_3d = [source in THREE_D_SOURCES for source in sources]
    count_3d, count_2d = sum(is_3d), len(sources) - sum(is_3d)
    if count_3d == 0 or count_2d == 0:
        return [1.0 / len(sources)] * len(sources)
    return [ratio_3d / count_3d if d else (1.0 - ratio_3d) / count_2d for d in is_3d]


def _image_shape(builders):
    shapes = {tuple(b.info.features[IMAGE_KEY].shape) for b in builders}
    if len(shapes) != 1:
        names = ", ".join(b.info.name for b in builders)
        raise ValueError(f"The sources {names} store images of different sizes {shapes}.")
    return shapes.pop()


def _read(builder, split, *, shuffle_seed=None, keys=None):
    """Examples of a (sub)split with their JPEGs still encoded."""
    read_config = tfds.ReadConfig(shuffle_seed=shuffle_seed, try_autocache=False)
    ds = builder.as_dataset(
        split=split,
        # A dataset stored in a fixed order refuses file shuffling; the buffer still shuffles.
        shuffle_files=shuffle_seed is not None and not builder.info.disable_shuffling,
        read_config=read_config,
        decoders={IMAGE_KEY: tfds.decode.SkipDecoding()},
    )
    if keys is not None:
        ds = ds.map(lambda example: {k: example[k] for k in keys})
    return ds


def _decoder(image_shape):
    def decode(example):
        image = tf.io.decode_jpeg(example[IMAGE_KEY], channels=image_shape[-1])
        return example | {IMAGE_KEY: tf.ensure_shape(image, image_shape)}

    return decode


def _batch_for_devices(ds, host_batch, num_local_devices):
    """Batches of host_batch reshaped to [num_local_devices, per_device, ...]."""
    per_device = host_batch // num_local_devices

    def split(x):
        return tf.reshape(x, [num_local_devices, per_device, *x.shape[1:]])

    ds = ds.batch(host_batch, drop_remainder=True)
    return ds.map(lambda batch: tf.nest.map_structure(split, batch))


def _deterministic(ds):
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options)


def create_train_dataset(
    data_dir,
    *,
    sources=("h36m", "mpii"),
    ratio_3d=0.5,
    batch_size,
    seed,
    num_local_devices=None,
    process_index=None,
    process_count=None,
    shuffle_buffer=DEFAULT_SHUFFLE_BUFFER,
    start_step=0,
):
    """The infinite, shuffled, mixed training stream of this process (SPEC 3).

    Args:
      data_dir: shard root holding data_dir/<source>/<version>.
      sources: dataset names whose `train` split is read.
      ratio_3d: probability that a sample comes from a 3D source (h36m), drawn
        per sample; ignored when all sources are of one kind.
      batch_size: global batch size over all processes and devices.
      seed: fixes the file order, the shuffles and the source choices.
      num_local_devices, process_index, process_count: default to JAX's.
      shuffle_buffer: examples (still JPEG-encoded) in each source's shuffle buffer.
      start_step: first step to yield; the stream from there equals an
        uninterrupted run's (see the module docstring).
    Returns:
      tf.data.Dataset of dicts with TRAIN_KEYS, each [num_local_devices,
      per_device_batch, ...], the image uint8 [.., S, S, 3].
    Raises:
      FileNotFoundError: naming the directory when a source's shards are missing.
    """
    _hide_accelerators_from_tf()
    process_index, process_count, num_local_devices = _process_and_devices(
        process_index, process_count, num_local_devices
    )
    host_batch = host_batch_size(batch_size, process_count, num_local_devices)
    builders = [_builder(data_dir, name, TRAIN_SPLIT) for name in sources]
    image_shape = _image_shape(builders)
    split = tfds.split_for_jax_process(
        TRAIN_SPLIT, process_index=process_index, process_count=process_count
    )
    streams = []
    for name, builder in zip(sources, builders, strict=True):
        stream_seed = _seed(seed, process_index, name)
        ds = _read(builder, split, shuffle_seed=stream_seed, keys=TRAIN_KEYS)
        streams.append(ds.shuffle(shuffle_buffer, seed=stream_seed).repeat())
    if len(streams) == 1:
        ds = streams[0]
    else:
        ds = tf.data.Dataset.sample_from_datasets(
            streams, mixing_weights(sources, ratio_3d), seed=_seed(seed, process_index, "mix")
        )
    ds = ds.skip(start_step * host_batch)
    ds = ds.map(_decoder(image_shape), num_parallel_calls=tf.data.AUTOTUNE)
    ds = _batch_for_devices(ds, host_batch, num_local_devices)
    return _deterministic(ds.prefetch(tf.data.AUTOTUNE))


def _split_sizes(info, split, process_count):
    """Examples each process reads of `split` (tfds.even_splits' division)."""
    return [
        info.splits[
            tfds.split_for_jax_process(split, process_index=i, process_count=process_count)
        ].num_examples
        for i in range(process_count)
    ]


def _padding(element_spec, count):
    """`count` all-zero examples (empty strings) with mask False."""
    zeros = tf.nest.map_structure(lambda spec: tf.zeros(spec.shape, spec.dtype), element_spec)
    return tf.data.Dataset.from_tensors(zeros | {MASK_KEY: tf.constant(False)}).repeat(count)


def create_eval_dataset(
    data_dir,
    name,
    split,
    *,
    batch_size,
    num_local_devices=None,
    process_index=None,
    process_count=None,
):
    """Every example of a split exactly once, in order, padded to whole batches.

    All processes yield the same number of batches (multi-host pmap needs it);
    padding examples are zeros with `mask` False.

    Args:
      data_dir: shard root holding data_dir/<name>/<version>.
      name, split: e.g. 'h36m', 'test'.
      batch_size: global batch size over all processes and devices.
      num_local_devices, process_index, process_count: default to JAX's.
    Returns:
      tf.data.Dataset (finite, its cardinality known) of dicts with every key of
      the shards (evaluation extras included) plus `mask` bool, each shaped
      [num_local_devices, per_device_batch, ...].
    Raises:
      FileNotFoundError: naming the directory when the shards are missing.
    """
    _hide_accelerators_from_tf()
    process_index, process_count, num_local_devices = _process_and_devices(
        process_index, process_count, num_local_devices
    )
    host_batch = host_batch_size(batch_size, process_count, num_local_devices)
    builder = _builder(data_dir, name, split)
    sizes = _split_sizes(builder.info, split, process_count)
    num_batches = math.ceil(max(sizes) / host_batch)
    subsplit = tfds.split_for_jax_process(
        split, process_index=process_index, process_count=process_count
    )
    ds = _read(builder, subsplit).map(_decoder(tuple(builder.info.features[IMAGE_KEY].shape)))
    ds = ds.map(lambda example: example | {MASK_KEY: tf.constant(True)})
    ds = ds.concatenate(_padding(ds.element_spec, num_batches * host_batch - sizes[process_index]))
    ds = _batch_for_devices(ds, host_batch, num_local_devices)
    return _deterministic(ds.prefetch(tf.data.AUTOTUNE))


def read_labels(data_dir, name, split, keys, *, batch_size=4096):
    """Label arrays `keys` of every example of a split, in order (no image decoding).

    For statistics of a whole split, such as the training set's mean pose.

    Returns:
      dict key -> NumPy array [num_examples, ...].
    Raises:
      FileNotFoundError / ValueError: naming the directory or the missing split.
    """
    _hide_accelerators_from_tf()
    builder = _builder(data_dir, name, split)
    missing = sorted(set(keys) - set(builder.info.features))
    if missing:
        raise ValueError(f"The '{name}' shards in {builder.data_dir} have no feature {missing}.")
    ds = _read(builder, split, keys=tuple(keys)).batch(batch_size)
    parts = list(ds.as_numpy_iterator())
    if not parts:
        raise ValueError(f"The '{name}' split '{split}' in {builder.data_dir} is empty.")
    return {k: np.concatenate([part[k] for part in parts]) for k in keys}


def numpy_iterator(ds):
    """Batches of `ds` as dicts of NumPy arrays (text as arrays of bytes)."""
    return ds.as_numpy_iterator()


def _is_numeric(x):
    return isinstance(x, np.ndarray) and x.dtype.kind in "biuf"


def prefetch_to_device(iterator, size=2, devices=None):
    """Puts batches on the devices `size` steps ahead, as flax.jax_utils does.

    Numeric arrays [len(devices), ...] are split over the devices along axis 0
    (ready for jax.pmap); text stays on the host as NumPy.

    Args:
      iterator: yields (nested) dicts of NumPy arrays, e.g. numpy_iterator(ds).
      size: batches in flight; 2 overlaps a step with the next transfer.
      devices: defaults to jax.local_devices() (pmap's order).
    Yields:
      the batches with device arrays.
    """
    devices = jax.local_devices() if devices is None else devices
    mesh = jax.sharding.Mesh(np.array(devices), ("devices",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("devices"))

    def put(x):
        return jax.device_put(x, sharding) if _is_numeric(x) else x

    queue = collections.deque()

    def enqueue(count):
        for batch in itertools.islice(iterator, count):
            queue.append(jax.tree.map(put, batch))

    enqueue(size)
    while queue:
        yield queue.popleft()
        enqueue(1)
