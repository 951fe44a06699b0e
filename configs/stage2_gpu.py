"""Stage 2 as the faster GPU recipe (configs/gpu_recipe.py): not the paper's recipe.

    python launch.py --config=configs/stage2_gpu.py --workdir=workdirs/stage2_gpu \
        [--config.train.init_from=workdirs/stage1_gpu]

stage2.py's 1.2 M images at a global batch of 64 (50 epochs of 375 steps), the LR drop
after epoch 40 (step 15,000: the same 960,000 images as the paper's step 160,000),
bfloat16 compute, RMSprop at 8.16e-4 then 8.16e-5, a one-epoch warm-up (fresh RMSprop
state: init_from loads stage 1's weights and BatchNorm statistics only).
"""

from configs import gpu_recipe, stage2


def get_config(batch=None):
    config = stage2.get_config()
    return gpu_recipe.scale(config, gpu_recipe.parse_batch(batch), init_from="workdirs/stage1_gpu")
