"""A small configuration that learns the synthetic data in minutes on a CPU.

    python -m datasets.synthetic --out data/raw && \
    python -m datasets.prepare --raw_dir data/raw --data_dir data/shards && \
    python launch.py --config=configs/synthetic.py --workdir=workdirs/synthetic

`make demo` runs exactly this chain and then evaluation and inference.
"""

from configs import default


def get_config():
    config = default.get_config()
    # 64 px inputs and a 2-level hourglass: ~110 images/s of training on 2 CPU cores,
    # 4x the 128 px version, which spent its few minutes on the heatmap plateau.
    config.model.num_stacks = 1
    config.model.num_modules = 1
    config.model.num_features = 64
    config.model.num_reg_modules = 1
    config.model.hourglass_depth = 2
    config.data.input_res = 64
    config.data.provenance = "synthetic"  # the checkpoint says so; infer warns on real photos
    config.data.heatmap_res = 16
    config.data.shuffle_buffer = 512
    config.train.batch_size = 16
    config.train.learning_rate = 1e-3
    config.train.steps_per_epoch = 100
    config.train.num_epochs = 20
    config.train.drop_lr_epoch = 16
    # 2D and depth from scratch in one run. With RMSprop the depth term must stay
    # small, or its gradients drive the shared trunk and the heatmaps stall (measured
    # at 128 px: 2D train accuracy 0.03 after 600 steps at 1.0, 0.18 after 300 at 0.01).
    config.train.reg_weight = 0.01
    config.train.var_weight = 0.0
    config.train.log_every_steps = 50
    config.train.checkpoint_every_steps = 500
    config.eval.every_steps = 2000
    config.eval.batch_size = 32
    config.eval.splits = {"h36m": "test", "mpii": "validation", "mpi_inf_3dhp": "test"}
    # The synthetic people share one skeleton (datasets/synthetic/body.py): 14 bones, 3894.5 mm.
    config.eval.bone_sum_mm = 3894.5
    return config
