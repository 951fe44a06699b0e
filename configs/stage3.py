"""Stage 3: add the geometric (bone-ratio) loss on MPII, LR 2.5e-5, 10 epochs (SPEC 5).

    python launch.py --config=configs/stage3.py --workdir=workdirs/stage3 \
        --config.train.init_from=workdirs/stage2

The paper reports 64.9 mm MPJPE on Human3.6M (S9, S11) after this stage.
"""

from configs import stage2


def get_config():
    config = stage2.get_config()
    config.train.init_from = "workdirs/stage2"
    config.train.learning_rate = 2.5e-5
    config.train.num_epochs = 10
    config.train.drop_lr_epoch = -1
    config.train.reg_weight = 0.1
    config.train.var_weight = 0.01
    return config
