"""Defaults shared by every configuration: the paper's network and recipe (SPEC 5).

Not run by itself; stage1.py, stage2.py, stage3.py and synthetic.py start here.
"""

import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.model = ml_collections.ConfigDict()
    config.model.num_stacks = 2  # hourglasses, each predicting heatmaps
    config.model.num_modules = 2  # residual modules per hourglass step
    config.model.num_features = 256  # channels inside the hourglasses
    config.model.num_reg_modules = 2  # residuals before each pooling of the depth head
    config.model.num_joints = 16
    config.model.hourglass_depth = 4
    # "bfloat16": bf16 compute, f32 params and loss (slower at batch 6 on an H100: README)
    config.model.dtype = "float32"
    config.model.remat = False  # recompute activations in backprop to save memory

    config.data = ml_collections.ConfigDict()
    config.data.data_dir = "data/shards"  # output of `python -m datasets.prepare`
    config.data.train_sources = ("h36m", "mpii")
    config.data.ratio_3d = 0.5  # share of H36M samples in a batch (the original's Ratio3D/10)
    config.data.shuffle_buffer = 1024
    config.data.input_res = 256
    config.data.heatmap_res = 64
    # What the shards hold, recorded in every checkpoint (infer warns on "synthetic"):
    # "release" (the datasets' real files) or "synthetic" (datasets/synthetic).
    config.data.provenance = "release"

    config.augment = ml_collections.ConfigDict()
    config.augment.scale_factor = 0.25  # scale *= 2^clip(N * 0.25, +-0.5)
    config.augment.rotation_factor = 30.0  # degrees, clipped at +-60
    config.augment.rotation_prob = 0.4  # rotate 40% of the samples
    config.augment.flip_prob = 0.5
    config.augment.color_low = 0.6
    config.augment.color_high = 1.4
    config.augment.augment_3d = False  # the original did not augment H36M

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 6  # global, over all devices and hosts
    config.train.learning_rate = 2.5e-4
    config.train.rmsprop_decay = 0.99  # Torch7 alpha
    config.train.rmsprop_eps = 1e-8  # added outside the square root, as Torch7
    config.train.steps_per_epoch = 4000
    config.train.num_epochs = 60
    config.train.drop_lr_epoch = -1  # divide the LR by 10 at this epoch; -1: never
    config.train.warmup_steps = 0  # linear LR warm-up over this many steps (the paper: none)
    config.train.reg_weight = 0.0  # depth L2 on H36M samples
    config.train.var_weight = 0.0  # geometric loss on MPII samples
    config.train.init_from = ""  # previous stage's workdir or checkpoint: weights + BN stats
    config.train.log_every_steps = 100
    config.train.checkpoint_every_steps = 20000  # 5 epochs
    config.train.keep_checkpoints = 3

    config.eval = ml_collections.ConfigDict()
    config.eval.every_steps = 20000  # 5 epochs
    config.eval.batch_size = 16
    config.eval.datasets = ("h36m", "mpii")  # evaluated during training when present
    config.eval.splits = {"h36m": "test_sample", "mpii": "validation", "mpi_inf_3dhp": "test"}
    config.eval.max_batches = -1  # -1: the whole split
    config.eval.best_metric = "h36m_mpjpe_mm"  # checkpoint kept as best/ by this number
    config.eval.best_mode = "min"
    # H36M predictions are scaled to the training skeleton's 14-bone sum (SPEC 6).
    config.eval.bone_sum_mm = 4296.99233013
    return config
