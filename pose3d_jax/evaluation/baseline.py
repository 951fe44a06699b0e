"""The mean-pose baseline: the training set's mean pose predicted for every image.

A 3D error means little alone; this is what a model that ignores the image
scores under the same protocol, so `make demo` prints it beside the model's.
"""

import numpy as np

from pose3d_jax import skeleton

TRAIN_SPLIT = "train"


def mean_pose_mm(joints_3d_mm, root=skeleton.EVAL_ROOT):
    """Mean root-relative pose [16, 3] (mm) of camera-frame poses [N, 16, 3]."""
    joints = np.asarray(joints_3d_mm, np.float64)
    if joints.ndim != 3 or joints.shape[0] == 0:
        raise ValueError(f"expected poses [N > 0, J, 3], got shape {joints.shape}.")
    return np.mean(joints - joints[:, root : root + 1], axis=0)


def training_mean_pose(data_dir, name="h36m", split=TRAIN_SPLIT):
    """Mean root-relative pose of a prepared split's 3D labels (images are not decoded)."""
    from pose3d_jax.data import input_pipeline  # TensorFlow only when shards are read

    labels = input_pipeline.read_labels(data_dir, name, split, ("joints_3d_mm",))
    return mean_pose_mm(labels["joints_3d_mm"])


def mean_pose_predict_fn(mean_pose):
    """A predict_fn for protocols.evaluate_dataset that always answers `mean_pose`.

    The H36M protocol scales the prediction to the training bone sum and moves
    it to the true pelvis, so the mean pose is scored exactly as a network is.
    """
    mean_pose = np.asarray(mean_pose, np.float64)

    def predict(batch):
        count = len(batch["joints_3d_mm"])
        return {"joints_3d_hm": np.broadcast_to(mean_pose, (count, *mean_pose.shape))}

    return predict
