"""Stage 1 of the paper: the 2D hourglass on mixed H36M + MPII (SPEC 5).

    python launch.py --config=configs/stage1.py --workdir=workdirs/stage1

60 epochs x 4000 iterations at batch 6, RMSprop 2.5e-4, no depth or geometric loss.
"""

from configs import default


def get_config():
    config = default.get_config()
    config.train.num_epochs = 60
    config.train.reg_weight = 0.0
    config.train.var_weight = 0.0
    config.eval.best_metric = "mpii_pckh"
    config.eval.best_mode = "max"
    return config
