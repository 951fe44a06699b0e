"""Motion out: BVH read back by an outside reader (bvhio, PyPI) and its forward kinematics
against the generator's clips; continuous angles; metric camera-frame 3D recovered from
projections; Human3.6M's 17 joints by its loaders' tables; bad input; the CLI end to end."""

import json

import numpy as np
import pytest
from conftest import schema_validator

from datasets.synthetic import motion as clips
from datasets.synthetic import wild
from pose3d_jax import infer, skeleton
from pose3d_jax.motion import bvh, camera, skeletons

CLIPS = ("walking", "turning", "arms_raised")


def _read_back(path, names):
    """Joint positions [T, J, 3] of `names` by bvhio's forward kinematics (BVH axes)."""
    import bvhio

    root = bvhio.readAsHierarchy(str(path))
    by_name = {joint.Name: joint for joint, _, _ in root.layout()}
    frames = len(root.Keyframes)
    out = np.empty((frames, len(names), 3))
    for t in range(frames):
        root.loadPose(t)
        out[t] = [list(by_name[n].PositionWorld) for n in names]
    return out


def _angles(path):
    """[T, channels] of the MOTION section, parsed by bvhio's file reader."""
    import bvhio

    container = bvhio.readAsBvh(str(path))
    rows = []
    for joint, _, _ in container.Root.layout():
        rows.append([k.Rotation for k in joint.Keyframes])
    return container, rows


@pytest.mark.parametrize("name", CLIPS)
def test_bvh_forward_kinematics_reproduces_the_clip(name, tmp_path):
    poses = clips.clip(name, frames=48)
    path = bvh.write_bvh(tmp_path / f"{name}.bvh", poses, 25, root_mm=poses[:, 6], units="mm")
    got = _read_back(path, skeleton.JOINT_NAMES)
    want = poses @ bvh.CAMERA_TO_BVH.T
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1.0  # mm, bone lengths held by the generator


def test_bvh_in_metres_without_metric_root_keeps_the_pose_and_stands(tmp_path):
    poses = clips.clip("walking", frames=20)
    path = bvh.write_bvh(tmp_path / "walk.bvh", poses, 30)
    got = _read_back(path, skeleton.JOINT_NAMES) * 1000.0  # metres -> mm
    want = (poses - poses[:, 6:7]) @ bvh.CAMERA_TO_BVH.T
    pelvis = got[:, 6:7]
    assert np.abs((got - pelvis) - want).max() < 1.0
    lower_ankle = got[:, [0, 5], 1].min(axis=1)
    assert np.median(lower_ankle) == pytest.approx(0.0, abs=1.0)  # the feet on the floor
    text = path.read_text()
    assert "Frame Time: 0.03333333" in text and "Frames: 20" in text


def test_turning_root_covers_the_full_turn_without_flips(tmp_path):
    import bvhio

    poses = clips.clip("turning", frames=72)
    path = bvh.write_bvh(tmp_path / "turn.bvh", poses, 25)
    root = bvhio.readAsBvh(str(path)).Root
    assert root.Channels == ["Xposition", "Yposition", "Zposition",
                             "Zrotation", "Xrotation", "Yrotation"]  # fmt: skip
    values = np.loadtxt(path.read_text().split("Frame Time:")[1].splitlines()[1:])
    yaw = values[:, 5]  # the root's Yrotation: about the vertical
    assert yaw[-1] - yaw[0] == pytest.approx(360.0, abs=1.0)
    assert np.all(np.diff(yaw) > 0)  # always turning the same way: no flip


@pytest.mark.parametrize("name", CLIPS)
def test_angles_stay_continuous(name, tmp_path):
    poses = clips.clip(name, frames=60)
    path = bvh.write_bvh(tmp_path / f"{name}.bvh", poses, 25)
    values = np.loadtxt(path.read_text().split("Frame Time:")[1].splitlines()[1:])
    rotations = values[:, 3:]
    assert np.abs(np.diff(rotations, axis=0)).max() < 30.0


def test_euler_angles_by_hand():
    # Rz(90) @ Rx(0) @ Ry(0) maps x to y; a full turn about y unwrapped 0 -> 350 -> 370
    assert np.allclose(camera_free_rz90() @ [1, 0, 0], [0, 1, 0])
    turn = np.stack([bvh.rotations.matrix_zxy([[0, 0, a]])[0] for a in (0, 175, 350, 370)])
    angles = bvh.rotations.euler_zxy(turn)
    assert np.allclose(angles[:, 2], [0, 175, 350, 370], atol=1e-6)


def camera_free_rz90():
    return bvh.rotations.matrix_zxy([[90.0, 0.0, 0.0]])[0]


def test_h36m17_bvh_and_joints_follow_the_loaders_tables(tmp_path):
    poses = clips.clip("arms_raised", frames=10)
    converted = skeletons.convert(poses, "h36m17")
    # 3d-pose-baseline's names, matched to ours by name (Spine = our thorax, Thorax = our
    # upper neck, Head = our head top: SPEC 1)
    by_name = {
        "Hip": "pelvis", "RHip": "right_hip", "RKnee": "right_knee", "RFoot": "right_ankle",
        "LHip": "left_hip", "LKnee": "left_knee", "LFoot": "left_ankle", "Spine": "thorax",
        "Thorax": "upper_neck", "Head": "head_top", "LShoulder": "left_shoulder",
        "LElbow": "left_elbow", "LWrist": "left_wrist", "RShoulder": "right_shoulder",
        "RElbow": "right_elbow", "RWrist": "right_wrist",
    }  # fmt: skip
    h36m_order = ["Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine",
                  "Thorax", "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist",
                  "RShoulder", "RElbow", "RWrist"]  # fmt: skip
    for i, h36m_name in enumerate(h36m_order):
        if h36m_name == "Neck/Nose":
            want = 0.5 * (poses[:, skeleton.JOINT_INDEX["upper_neck"]] + poses[:, 9])
        else:
            want = poses[:, skeleton.JOINT_INDEX[by_name[h36m_name]]]
        assert np.array_equal(converted[:, i], want), h36m_name
    for ours, theirs in enumerate(skeleton.H36M_TO_MPII):  # SPEC 1's map agrees
        assert np.array_equal(converted[:, theirs], poses[:, ours])
    path = bvh.write_bvh(tmp_path / "h36m.bvh", poses, 25, skeleton="h36m17", units="mm")
    got = _read_back(path, skeletons.H36M17.joint_names)
    want = (converted - converted[:, :1]) @ bvh.CAMERA_TO_BVH.T
    assert np.abs((got - got[:, :1]) - want).max() < 1.0
    confidence = skeletons.convert_confidence(np.arange(16.0), "h36m17")
    assert confidence[9] == min(confidence[8], confidence[10]) and confidence[0] == 6.0


def test_unheld_bone_lengths_keep_the_directions(tmp_path):
    rng = np.random.default_rng(3)
    poses = clips.clip("walking", frames=30)
    noisy = poses + rng.normal(0, 10.0, poses.shape)  # what a network's poses look like
    path = bvh.write_bvh(tmp_path / "noisy.bvh", noisy, 25, root_mm=noisy[:, 6], units="mm")
    got = _read_back(path, skeleton.JOINT_NAMES)
    want = noisy @ bvh.CAMERA_TO_BVH.T
    for child, parent in enumerate(skeletons.MPII16.parents):
        if parent < 0:
            continue
        a = got[:, child] - got[:, parent]
        b = want[:, child] - want[:, parent]
        cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        assert cos.min() > np.cos(np.radians(0.01))  # each bone's direction kept


def _projected(depth_mm, intrinsics, yaw=30.0):
    joints = clips.camera_joints(clips.NEUTRAL, yaw, depth_mm)
    joints[:, 0] += 300.0  # off the optical axis
    rel = joints - joints[6]
    return rel, camera.project(joints, intrinsics), joints[6]


@pytest.mark.parametrize("depth_mm", [1000.0, 2000.0, 4000.0, 8000.0])
def test_metric_depth_from_exact_2d_within_one_percent(depth_mm):
    intrinsics = camera.Intrinsics(1145.0, 1143.8, 512.5, 515.5)
    rel, uv, pelvis = _projected(depth_mm, intrinsics)
    placed = camera.camera_joints(rel, uv, np.ones(16), intrinsics)
    assert placed[6, 2] == pytest.approx(depth_mm, rel=0.01)
    assert np.abs(placed - (rel + pelvis)).max() < 0.01 * depth_mm


def test_metric_depth_with_two_pixel_noise_degrades_gracefully():
    intrinsics = camera.from_fov(60.0, 1280, 720)
    rng = np.random.default_rng(0)
    errors = {}
    for depth_mm in (2000.0, 4000.0, 8000.0):
        rel, uv, _ = _projected(depth_mm, intrinsics)
        found = [
            camera.camera_joints(rel, uv + rng.normal(0, 2.0, uv.shape), np.ones(16), intrinsics)
            for _ in range(50)
        ]
        errors[depth_mm] = np.mean([abs(f[6, 2] - depth_mm) / depth_mm for f in found])
    # benchmarks/metric_depth.py (500 draws): 0.16% at 2 m, 0.34% at 4 m, 0.68% at 8 m
    assert errors[2000.0] < 0.01 and errors[8000.0] < 0.03
    assert errors[2000.0] < errors[8000.0]


def test_low_confidence_joints_are_left_out():
    intrinsics = camera.Intrinsics(1000.0, 1000.0, 640.0, 360.0)
    rel, uv, _ = _projected(3000.0, intrinsics)
    uv[10] += 400.0  # a wrist found far off, with a low score
    confidence = np.full(16, 0.8)
    confidence[10] = 0.1
    placed = camera.camera_joints(rel, uv, confidence, intrinsics)
    assert placed[6, 2] == pytest.approx(3000.0, rel=0.001)


def test_fov_and_intrinsics_by_hand():
    k = camera.from_fov(90.0, 1920, 1080)
    assert (k.fx, k.fy, k.cx, k.cy) == pytest.approx((960.0, 960.0, 960.0, 540.0))
    parsed = camera.parse_intrinsics("1145.0,1143.8,512.5,515.5")
    assert (parsed.cx, parsed.cy) == (513.0, 516.0)  # OpenCV's pixel centres -> ours


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--fov", "0"], "strictly between 0 and 180"),
        (["--fov", "180"], "strictly between 0 and 180"),
        (["--intrinsics", "1000,1000,320"], "must be fx,fy,cx,cy"),
        (["--intrinsics", "a,b,c,d"], "must be fx,fy,cx,cy"),
        (["--intrinsics=-5,1000,320,240"], "positive fx and fy"),
    ],
)
def test_bad_camera_flags_are_one_sentence(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        infer.build_parser().parse_args(["x.jpg", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err and argv[0].split("=")[0] in err


def test_bvh_on_a_single_image_is_refused(tmp_path, capsys):
    image = tmp_path / "photo.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    assert infer.main([str(image), "--bvh", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "single image" in err and "--frames" in err
    assert not (tmp_path / "out").exists()


def test_bvh_of_bad_poses_is_one_sentence(tmp_path):
    with pytest.raises(bvh.MotionError, match="shaped \\[frames, joints, 3\\]"):
        bvh.write_bvh(tmp_path / "x.bvh", np.zeros((4, 12, 3)), 25)
    with pytest.raises(bvh.MotionError, match="positive frame rate"):
        bvh.write_bvh(tmp_path / "x.bvh", np.zeros((4, 16, 3)), 0)
    with pytest.raises(ValueError, match="unknown skeleton 'coco'"):
        bvh.write_bvh(tmp_path / "x.bvh", np.zeros((4, 16, 3)), 25, skeleton="coco")
    assert list(tmp_path.iterdir()) == []


def test_cli_video_to_bvh_with_metric_3d_and_h36m17(tiny_checkpoint, tmp_path):
    import cv2

    frames = wild.random_clip(np.random.default_rng(5), 6, width=160, height=120)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    argv = [str(folder), "--frames", "--fps", "10", "--checkpoint", str(tiny_checkpoint)]
    argv += ["--out", str(out), "--detect", "none", "--backend", "xla", "--chunk", "3"]
    assert infer.main([*argv, "--bvh", "--fov", "60", "--skeleton", "h36m17"]) == 0
    summary = json.loads((out / "frames.json").read_text())
    schema_validator("video_summary.schema.json").validate(summary)
    assert summary["skeleton"] == "h36m17" and summary["derived_joints"] == ["neck_nose"]
    assert summary["camera"]["intrinsics"]["fx"] == pytest.approx(80 / np.tan(np.radians(30)))
    files = summary["outputs"]["bvh"]
    assert list(files) == ["0"] and files["0"]["frames"] == 6
    lines = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    frame_schema = schema_validator("video_frame.schema.json")
    for line in lines:
        frame_schema.validate(line)
    person = lines[0]["people"][0]
    assert np.asarray(person["joints_3d_camera_mm"]).shape == (17, 3)
    assert np.asarray(person["joints_2d"]).shape == (17, 2)
    got = _read_back(out / files["0"]["file"], skeletons.H36M17.joint_names)
    assert got.shape == (6, 17, 3)
    root = np.array([line["people"][0]["joints_3d_camera_mm"][0] for line in lines])
    assert np.abs(got[:, 0] * 1000.0 - root @ bvh.CAMERA_TO_BVH.T).max() < 0.5  # metres
    assert "Frame Time: 0.10000000" in (out / files["0"]["file"]).read_text()


def test_predictor_places_poses_in_the_camera_only_when_given_one(tiny_checkpoint):
    from pose3d_jax import Predictor

    image = np.random.default_rng(2).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    plain = Predictor.from_checkpoint(tiny_checkpoint, backend="xla")(image)
    assert plain.joints_3d_camera_mm is None and plain.intrinsics is None
    assert "joints_3d_camera_mm" not in plain.to_dict()
    given = camera.Intrinsics(150.0, 150.0, 80.0, 60.0)
    placed = Predictor.from_checkpoint(tiny_checkpoint, backend="xla", camera=given)(image)
    assert np.array_equal(placed.joints_3d_mm, plain.joints_3d_mm)  # nothing else changes
    assert placed.intrinsics == given
    # the camera-frame pose is the relative pose moved by one translation, the one that
    # projects the confident joints onto their 2D as well as scipy's nonlinear least
    # squares of the pixel residuals does (an optimiser independent of ours)
    from scipy.optimize import least_squares

    rel, uv = placed.joints_3d_mm.astype(np.float64), placed.joints_2d.astype(np.float64)
    confidence = placed.confidence.astype(np.float64)
    weight = np.where(confidence >= 0.5 * np.median(confidence), confidence, 0.0)

    def pixel_residuals(translation):
        return (np.sqrt(weight)[:, None] * (camera.project(rel + translation, given) - uv)).ravel()

    offset = placed.joints_3d_camera_mm - rel
    assert np.allclose(offset, offset[0], atol=1e-3)
    best = least_squares(pixel_residuals, offset[0] + [0, 0, 500.0]).x
    ours_rms = np.sqrt(np.mean(pixel_residuals(offset[0]) ** 2))
    best_rms = np.sqrt(np.mean(pixel_residuals(best) ** 2))
    assert ours_rms <= best_rms + 1e-6 and offset[0][2] > 0
