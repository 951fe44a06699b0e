"""Stage 1 as the faster GPU recipe (configs/gpu_recipe.py): not the paper's recipe.

    python launch.py --config=configs/stage1_gpu.py --workdir=workdirs/stage1_gpu
    python launch.py --config=configs/stage1_gpu.py:128 --workdir=...   (global batch 128)

stage1.py's 1.44 M images at a global batch of 64 (375 steps per epoch, 22,500 steps),
bfloat16 compute with float32 weights, RMSprop at 2.5e-4 x sqrt(64 / 6) = 8.16e-4 after
a one-epoch linear warm-up.
"""

from configs import gpu_recipe, stage1


def get_config(batch=None):
    return gpu_recipe.scale(stage1.get_config(), gpu_recipe.parse_batch(batch))
