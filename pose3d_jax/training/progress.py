"""A progress bar for long training: steps/s, ETA and the loss terms."""

import sys

from tqdm import tqdm

SHOWN = ("loss", "heatmap_loss", "depth_loss", "geometric_loss", "accuracy", "learning_rate")


class Progress:
    """tqdm over training steps, quiet on processes other than the first."""

    def __init__(self, total_steps, start_step, enabled=True):
        self._bar = tqdm(
            total=total_steps,
            initial=start_step,
            unit="step",
            dynamic_ncols=True,
            disable=not enabled,
            file=sys.stderr,
            mininterval=1.0,
        )
        self._step = start_step

    def update(self, step, metrics):
        """Moves the bar to `step` and shows the latest metrics."""
        self._bar.set_postfix(
            {k: f"{metrics[k]:.4g}" for k in SHOWN if k in metrics}, refresh=False
        )
        self._bar.update(step - self._step)
        self._step = step

    def close(self):
        self._bar.close()
