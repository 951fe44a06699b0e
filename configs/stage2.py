"""Stage 2: add the depth regression (regWeight 0.1), LR drop at epoch 40 (SPEC 5).

    python launch.py --config=configs/stage2.py --workdir=workdirs/stage2 \
        --config.train.init_from=workdirs/stage1

Starts from stage 1's weights and BatchNorm statistics (not its optimizer).
"""

from configs import stage1


def get_config():
    config = stage1.get_config()
    config.train.init_from = "workdirs/stage1"
    config.train.num_epochs = 50
    config.train.drop_lr_epoch = 40
    config.train.reg_weight = 0.1
    config.train.var_weight = 0.0
    config.eval.best_metric = "h36m_mpjpe_mm"
    config.eval.best_mode = "min"
    return config
