"""A faster recipe for GPUs: the paper's stages at a large batch in bfloat16 (not the paper's).

    python launch.py --config=configs/stage1_gpu.py --workdir=workdirs/stage1_gpu
    python launch.py --config=configs/stage1_gpu.py:128 ...     (global batch 128, e.g. 2 GPUs)

`scale(config, batch_size)` turns a paper stage (stage1.py, stage2.py, stage3.py) into
its large-batch version; stage{1,2,3}_gpu.py apply it. What it keeps and what it changes:

* Same images per stage. The paper trains 4000 iterations of 6 images per epoch
  (24,000 images); here an epoch is round(24000 / B) steps of the global batch B:
  375 steps at the default B = 64, exactly 24,000 images, so stage 1 still sees
  60 x 24,000 = 1.44 M images, stage 2 1.2 M and stage 3 0.24 M. The epoch counts and
  stage 2's LR drop at epoch 40 stay, so the drop falls after the same 960,000 images.
  A B that does not divide 24,000 rounds the epoch (128: 188 steps, 24,064 images,
  +0.27%). Checkpoints, evaluations and logs keep their spacing in images too.
* bfloat16 compute (`model.dtype`): convolutions, BatchNorm arithmetic and activations in
  bfloat16, while the parameters, the RMSprop state, the BatchNorm statistics, the
  heatmaps and depth the losses see and the losses themselves stay float32, so the
  float32 weights are the master copy every update is added to. bfloat16 keeps
  float32's exponent range: no loss scaling. It does not pay at the paper's batch 6
  (slower than float32 on an H100, benchmarks/README.md); it is meant for B >= 32.
* Learning rate x sqrt(B / 6): the square-root rule for adaptive optimizers (Malladi
  et al., NeurIPS 2022, "On the SDEs and Scaling Rules for Adaptive Gradient
  Algorithms"), which matches the stochastic differential equation of RMSprop/Adam
  across batch sizes. RMSprop divides each gradient by the running RMS of its
  gradients, so the update's size does not grow with the batch as SGD's does; only its
  noise shrinks (1/sqrt(B)). The linear rule (Goyal et al., 2017) is SGD's: at B = 64
  it would multiply the LR by 10.7 against 3.27 here. Malladi's rule also multiplies
  (1 - decay) by B / 6; Torch7's decay 0.99 is kept, so the square-gradient average
  spans ~100 steps (6,400 images at B = 64, 600 in the paper). B = 64: stages 1-2 at
  2.5e-4 x 3.27 = 8.16e-4 (8.16e-5 after stage 2's drop), stage 3 at 8.16e-5.
* A linear warm-up over the first epoch (375 steps at B = 64) in every stage. Each
  stage starts a fresh RMSprop state (train.init_from loads weights and BatchNorm
  statistics only), and until its square-gradient average has filled (1 - 0.99^t of
  its value after t steps: 0.63 at 100, 0.98 at 375) each step is larger than the
  LR suggests: at the scaled LR that start is what the ramp tempers. After the
  warm-up the LR at any share of a stage's images is the paper's LR there times
  sqrt(B / 6) (tests/test_gpu_recipe.py).

Nothing here is from the paper or measured to reach its accuracy; the paper's recipe is
stage{1,2,3}.py. bfloat16 at a large batch is what the GPU numbers in
benchmarks/README.md compare.
"""

import math

PAPER_BATCH = 6  # the paper's (and stage{1,2,3}.py's) batch
DEFAULT_BATCH = 64  # global batch of the GPU recipe: one GPU at 64, or 2 x 32, ...
WARMUP_EPOCHS = 1
DTYPE = "bfloat16"


def lr_scale(batch_size, paper_batch=PAPER_BATCH):
    """The square-root rule: the factor on the paper's LR at global batch `batch_size`."""
    return math.sqrt(batch_size / paper_batch)


def parse_batch(arg):
    """The batch of `--config=configs/stageN_gpu.py:B` (None or '' -> DEFAULT_BATCH)."""
    if arg in (None, ""):
        return DEFAULT_BATCH
    batch = int(arg)
    if batch <= 0:
        raise ValueError(f"the GPU recipe's batch must be positive, got {arg!r}")
    return batch


def _scaled_steps(paper_steps, paper_batch, batch_size):
    """Steps of `batch_size` that see as many images as `paper_steps` of `paper_batch`."""
    return max(1, round(paper_steps * paper_batch / batch_size))


def scale(config, batch_size=DEFAULT_BATCH, init_from=None):
    """`config` (a paper stage) as the GPU recipe at global batch `batch_size`.

    init_from: the previous stage's workdir (None keeps the stage's own).
    """
    train = config.train
    paper_batch, paper_epoch = train.batch_size, train.steps_per_epoch
    train.steps_per_epoch = _scaled_steps(paper_epoch, paper_batch, batch_size)

    def same_images(paper_steps):  # whole epochs stay whole epochs
        if paper_steps % paper_epoch == 0:
            return paper_steps // paper_epoch * train.steps_per_epoch
        return _scaled_steps(paper_steps, paper_batch, batch_size)

    train.log_every_steps = same_images(train.log_every_steps)
    train.checkpoint_every_steps = same_images(train.checkpoint_every_steps)
    config.eval.every_steps = same_images(config.eval.every_steps)
    train.learning_rate = train.learning_rate * lr_scale(batch_size, paper_batch)
    train.warmup_steps = WARMUP_EPOCHS * train.steps_per_epoch
    train.batch_size = batch_size
    config.model.dtype = DTYPE
    if init_from is not None:
        train.init_from = init_from
    return config
