"""The detector's SSD anchors, generated as MediaPipe's SsdAnchorsCalculator does.

Options of `mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt` (lines 86-104 at
google-ai-edge/mediapipe@85c0cdc): 5 layers, strides 8, 16, 32, 32, 32 on a 224x224
input, anchor offset 0.5, aspect ratio 1.0 plus the interpolated scale (the proto's
default `interpolated_scale_aspect_ratio: 1.0`), fixed anchor size. The generator
(`mediapipe/calculators/tflite/ssd_anchors_calculator.cc`, lines 290-378) merges the
layers of equal stride, so each cell of a stride carries 2 anchors per layer of that
stride: 28x28x2 + 14x14x2 + 7x7x6 = 2254 anchors. With a fixed anchor size every
anchor is 1x1 (normalised), so only the centres matter.
"""

import functools

import numpy as np

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
ANCHOR_OFFSET = 0.5
ANCHORS_PER_LAYER = 2  # aspect ratio 1.0 and the interpolated scale
NUM_ANCHORS = 2254


@functools.cache
def anchor_centres(input_size=INPUT_SIZE, strides=STRIDES) -> np.ndarray:
    """[NUM_ANCHORS, 2] (x, y) anchor centres in [0, 1], in the model's output order."""
    centres, layer = [], 0
    while layer < len(strides):
        same = layer
        while same < len(strides) and strides[same] == strides[layer]:
            same += 1
        per_cell = ANCHORS_PER_LAYER * (same - layer)
        cells = int(np.ceil(input_size / strides[layer]))
        grid = (np.arange(cells) + ANCHOR_OFFSET) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell_centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, per_cell, axis=0))
        layer = same
    out = np.concatenate(centres).astype(np.float32)
    out.setflags(write=False)
    return out
