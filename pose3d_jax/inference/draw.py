"""The pictures of the results: each person's 2D skeleton over the image, in their own
colour with their index (or track ID), beside a 3D view of every skeleton.

Drawn with OpenCV (a few ms, where a matplotlib figure takes ~200 plus 0.5 s to import),
for the PNG of each image and each frame of the MP4. Bones of the person's left side are
drawn lighter. The 3D view turns each pelvis-relative pose by VIEW_AZIMUTH_DEG about
the vertical axis, so depth shows as sideways motion, and stands the skeletons side by
side PERSON_SPACING_MM apart, in the order given (left to right in the image).
"""

import cv2
import numpy as np

from pose3d_jax import skeleton

VIEW_AZIMUTH_DEG = 45.0
VIEW_SPAN_MM = 2200.0  # the panel's side for one person
PERSON_SPACING_MM = 1000.0
# matplotlib's tab10, RGB
PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip
PANEL_RGB = (245, 245, 245)


def joint_side(index: int) -> str:
    """'right', 'left' or 'centre' from the joint's name."""
    name = skeleton.JOINT_NAMES[index]
    return name.split("_")[0] if name.startswith(("right_", "left_")) else "centre"


def bone_side(bone) -> str:
    """A bone takes the side of whichever end is not on the centre line."""
    sides = {joint_side(j) for j in bone} - {"centre"}
    return sides.pop() if len(sides) == 1 else "centre"


def colour(index) -> tuple[int, int, int]:
    return PALETTE[int(index) % len(PALETTE)]


def _lighter(rgb, amount=0.45):
    return tuple(int(round(c + (255 - c) * amount)) for c in rgb)


def _point(p):
    return tuple(int(round(float(v))) for v in p)


def skeleton_lines(canvas, points, rgb, thickness):
    """Draws one skeleton (joints [16, 2] in canvas pixels) onto `canvas` in place."""
    for bone in skeleton.BONES:
        shade = _lighter(rgb) if bone_side(bone) == "left" else rgb
        a, b = (_point(points[j]) for j in bone)
        cv2.line(canvas, a, b, shade, thickness, cv2.LINE_AA)
    for point in points:
        cv2.circle(canvas, _point(point), thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)


def label(canvas, text, anchor, rgb, size=0.6):
    """`text` in a filled box of colour `rgb` whose lower left is `anchor`."""
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, size, 2)
    x, y = _point(anchor)
    y = max(y, h + base)
    cv2.rectangle(canvas, (x, y - h - base), (x + w + 4, y + 2), rgb, -1)
    cv2.putText(canvas, text, (x + 2, y - base + 2), cv2.FONT_HERSHEY_SIMPLEX, size,
                (255, 255, 255), 2, cv2.LINE_AA)  # fmt: skip


def view_3d(people_3d, side, colours):
    """[side, side, 3] panel of the poses ([16, 3] mm each) seen from VIEW_AZIMUTH_DEG."""
    panel = np.full((side, side, 3), PANEL_RGB, np.uint8)
    count = len(people_3d)
    span = VIEW_SPAN_MM + PERSON_SPACING_MM * max(count - 1, 0)
    angle = np.deg2rad(VIEW_AZIMUTH_DEG)
    cv2.line(panel, (0, side // 2), (side, side // 2), (210, 210, 210), 1)
    for k, (joints, rgb) in enumerate(zip(people_3d, colours, strict=True)):
        x, y, z = np.asarray(joints, np.float64).T
        offset = (k - (count - 1) / 2.0) * PERSON_SPACING_MM
        u = x * np.cos(angle) - z * np.sin(angle) + offset
        points = np.stack([u, y], axis=-1) * (side / span) + side / 2.0
        skeleton_lines(panel, points, rgb, max(1, side // 200))
    return panel


def picture(image, people, max_height=720, caption="", min_height=256):
    """The image (scaled to between min_height and max_height) with each person's
    skeleton and label, and the 3D view beside it. people: [(label text, joints_2d
    [16, 2] px, joints_3d_mm [16, 3], colour index)]; RGB uint8 out, even sides."""
    height, width = image.shape[:2]
    factor = min(max_height / height, max(1.0, min_height / height))
    size = (max(2, round(width * factor) // 2 * 2), max(2, round(height * factor) // 2 * 2))
    method = cv2.INTER_AREA if factor <= 1.0 else cv2.INTER_NEAREST
    left = cv2.resize(image, size, interpolation=method)
    left = np.ascontiguousarray(left)
    zoom = np.array(size, np.float64) / np.array([width, height])
    thickness = max(2, size[1] // 240)
    for text, joints_2d, _, index in people:
        points = np.asarray(joints_2d, np.float64) * zoom
        skeleton_lines(left, points, colour(index), thickness)
        top = points[np.argmin(points[:, 1])]
        label(left, text, (top[0] - 6, top[1] - 8), colour(index))
    right = view_3d([p[2] for p in people], size[1], [colour(p[3]) for p in people])
    out = np.concatenate([left, right], axis=1)
    if caption:
        cv2.putText(out, caption, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2)
    return out


def png_bytes(rgb) -> bytes:
    # level 1 of 9: 3x faster than OpenCV's default 3, files ~15% larger
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("OpenCV could not encode the picture as PNG")
    return encoded.tobytes()
