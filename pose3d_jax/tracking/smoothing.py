"""Temporal smoothing of joint tracks: the One-Euro filter (Casiez et al., CHI 2012).

A low-pass filter whose cut-off rises with speed: slow joints are smoothed
hard (jitter goes), fast ones lightly (little lag). Per coordinate, with
sampling period dt, alpha(fc) = 1 / (1 + tau / dt), tau = 1 / (2 pi fc):
  dx_hat = alpha(d_cutoff) * (x - x_prev_hat) / dt + (1 - alpha(d_cutoff)) * dx_hat_prev
  fc     = min_cutoff + beta * |dx_hat|
  x_hat  = alpha(fc) * x + (1 - alpha(fc)) * x_hat_prev
min_cutoff (Hz) sets the smoothing at rest, beta how fast it lets go with speed
(in 1 / the coordinates' unit), d_cutoff (Hz) smooths the speed estimate.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class OneEuroSettings:
    """The filter's parameters; the defaults suit 2D joints in pixels at video rates."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0


def alpha(cutoff, dt):
    """The smoothing factor of a first-order low-pass filter at `cutoff` Hz."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters arrays of any fixed shape (e.g. joints [16, 2]) sample by sample."""

    def __init__(self, settings=OneEuroSettings()):
        self.settings = settings
        self._x = self._dx = self._t = None

    def reset(self):
        """Forget the past (after a cut, a lost track or a re-localisation)."""
        self._x = self._dx = self._t = None

    def __call__(self, x, t):
        """The filtered value of sample `x` taken at time `t` (seconds)."""
        x = np.asarray(x, np.float64)
        if self._x is None or t <= self._t:
            self._x, self._dx, self._t = x, np.zeros_like(x), t
            return x.copy()
        s = self.settings
        dt = t - self._t
        dx = (x - self._x) / dt
        a_d = alpha(s.d_cutoff, dt)
        dx_hat = a_d * dx + (1.0 - a_d) * self._dx
        a = alpha(s.min_cutoff + s.beta * np.abs(dx_hat), dt)
        x_hat = a * x + (1.0 - a) * self._x
        self._x, self._dx, self._t = x_hat, dx_hat, t
        return x_hat
