"""2D skeleton over the image beside a 3D view, as a matplotlib Figure or PNG bytes.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global figure
state, no display needed), so it works in scripts, tests and notebooks alike.
"""

import io

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pose3d_jax import skeleton
from pose3d_jax.inference.draw import bone_side, joint_side

DISPLAY_MAX_SIDE = 1024  # the drawn image is shrunk to this; joints are scaled with it
SIDE_COLORS = {"right": "tab:red", "left": "tab:blue", "centre": "tab:green"}
FIGURE_HEIGHT_IN = 5.0


def _display_image(image):
    """The image shrunk to DISPLAY_MAX_SIDE (area averaging) and the factor used."""
    height, width = image.shape[:2]
    factor = min(1.0, DISPLAY_MAX_SIDE / max(height, width))
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image, factor


def draw_2d(ax, image, joints_2d, title=None):
    """The image with the skeleton; joints in the image's continuous pixel coordinates."""
    shown, factor = _display_image(image)
    height, width = shown.shape[:2]
    # imshow's pixel i spans [i - 0.5, i + 0.5]; ours spans [i, i + 1).
    ax.imshow(shown, extent=(0, width, height, 0), interpolation="nearest")
    points = np.asarray(joints_2d, np.float64) * factor
    for bone in skeleton.BONES:
        ax.plot(*points[list(bone)].T, color=SIDE_COLORS[bone_side(bone)], linewidth=2)
    colors = [SIDE_COLORS[joint_side(j)] for j in range(len(points))]
    ax.scatter(points[:, 0], points[:, 1], c=colors, s=12, zorder=3, edgecolors="white")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def draw_3d(ax, joints_3d_mm, title=None):
    """The 3D skeleton: camera x to the right, depth z into the plot, up = -y."""
    joints = np.asarray(joints_3d_mm, np.float64)
    x, depth, up = joints[:, 0], joints[:, 2], -joints[:, 1]
    for bone in skeleton.BONES:
        b = list(bone)
        ax.plot(x[b], depth[b], up[b], color=SIDE_COLORS[bone_side(bone)], linewidth=2)
    ax.scatter(x, depth, up, c=[SIDE_COLORS[joint_side(j)] for j in range(len(x))], s=10)
    centre = np.array([x.mean(), depth.mean(), up.mean()])
    half = max(np.ptp(x), np.ptp(depth), np.ptp(up), 1.0) / 2 * 1.1
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x (mm)", fontsize=8)
    ax.set_ylabel("depth z (mm)", fontsize=8)
    ax.set_zlabel("up (mm)", fontsize=8)
    ax.tick_params(labelsize=6)
    ax.view_init(elev=10, azim=-70)
    if title:
        ax.set_title(title, fontsize=9)


def prediction_figure(image, joints_2d, joints_3d_mm, title=None) -> Figure:
    """A Figure: the 2D skeleton over `image` (RGB) on the left, the 3D view on the right."""
    height, width = image.shape[:2]
    aspect = min(max(width / height, 0.3), 4.0)
    fig = Figure(figsize=(FIGURE_HEIGHT_IN * (aspect + 1.1), FIGURE_HEIGHT_IN), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1, 2, width_ratios=(aspect, 1.1))
    draw_2d(fig.add_subplot(grid[0, 0]), image, joints_2d, title)
    draw_3d(fig.add_subplot(grid[0, 1], projection="3d"), joints_3d_mm, "3D (mm, pelvis-relative)")
    fig.tight_layout()
    return fig


def prediction_png(image, joints_2d, joints_3d_mm, title=None) -> bytes:
    """prediction_figure rendered to PNG bytes."""
    fig = prediction_figure(image, joints_2d, joints_3d_mm, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
