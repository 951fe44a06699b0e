"""Stage 3 as the faster GPU recipe (configs/gpu_recipe.py): not the paper's recipe.

    python launch.py --config=configs/stage3_gpu.py --workdir=workdirs/stage3_gpu \
        [--config.train.init_from=workdirs/stage2_gpu]

stage3.py's 240,000 images at a global batch of 64 (10 epochs of 375 steps), bfloat16
compute, RMSprop at 2.5e-5 x sqrt(64 / 6) = 8.16e-5 after a one-epoch warm-up, the
geometric loss on.
"""

from configs import gpu_recipe, stage3


def get_config(batch=None):
    config = stage3.get_config()
    return gpu_recipe.scale(config, gpu_recipe.parse_batch(batch), init_from="workdirs/stage2_gpu")
