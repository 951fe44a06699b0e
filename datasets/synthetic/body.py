"""A kinematic person: random plausible joint angles -> named 3D points (mm).

Body frame: y up, x toward the person's left, z forward (right-handed), pelvis
at the origin. Limbs have the standard lengths of skeleton.STANDARD_BONE_LENGTH_MM,
so tests can check them exactly. The datasets disagree on the torso (SPEC 1),
and so do the formats written here: MPII's "thorax" is the shoulder line and its
"upper neck" lies above it; Human3.6M and MPI-INF-3DHP put our "thorax" on the
spine and our "upper neck" on the shoulder line.
"""

import numpy as np

from pose3d_jax import skeleton

LIMB_MM = skeleton.STANDARD_BONE_LENGTH_MM
PELVIS_TO_HIP_MM = 130.0
PELVIS_TO_NECK_MM = 500.0
NECK_TO_SHOULDER_MM = 165.0
NECK_TO_HEAD_TOP_MM = 250.0
SPINE_FRACTION = 0.5  # the H36M/3DHP "spine" joint along pelvis -> neck
UPPER_NECK_FRACTION = 0.25  # MPII's "upper neck" along neck -> head top
HEAD_CENTRE_FRACTION = 0.55  # head centre (H36M nose, 3DHP head) along neck -> head top
HEAD_FORWARD_MM = 40.0
SIDES = {"left": 1.0, "right": -1.0}  # sign of x in the body frame
DOWN = np.array([0.0, -1.0, 0.0])
UP = -DOWN

# Which body point each of our 16 joints is, per annotation style.
MPII_STYLE = {name: name for name in skeleton.JOINT_NAMES} | {"thorax": "neck"}
H36M_STYLE = {name: name for name in skeleton.JOINT_NAMES} | {
    "thorax": "spine",
    "upper_neck": "neck",
}
EXTRA_POINT = "head_centre"  # the 17th joint of H36M (neck/nose) and 3DHP (head)


def rot_x(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _angles(rng) -> dict:
    """Joint angles in degrees: mostly standing, sometimes bent or sitting."""
    sitting = rng.random() < 0.15
    a = {
        "lean": rng.uniform(-10, 35),
        "twist": rng.uniform(-30, 30),
        "side_bend": rng.uniform(-12, 12),
        "pelvis_yaw": rng.uniform(-15, 15),
        "nod": rng.uniform(-15, 25),
        "head_tilt": rng.uniform(-15, 15),
    }
    for side in SIDES:
        flex = rng.uniform(70, 100) if sitting else rng.normal(5, 25)
        a[f"{side}_hip_flex"] = float(np.clip(flex, -35, 110))
        a[f"{side}_hip_abd"] = rng.uniform(-5, 30)
        a[f"{side}_knee"] = rng.uniform(70, 110) if sitting else abs(rng.normal(0, 40))
        a[f"{side}_shoulder_flex"] = rng.uniform(-40, 150)
        a[f"{side}_shoulder_abd"] = rng.uniform(0, 100)
        a[f"{side}_humeral"] = rng.uniform(-70, 70)
        a[f"{side}_elbow"] = rng.uniform(0, 140)
    a["left_knee"] = min(a["left_knee"], 150.0)
    a["right_knee"] = min(a["right_knee"], 150.0)
    return a


def sample_pose(rng) -> dict:
    """Named 3D points (mm, body frame) of one random plausible pose."""
    return pose_from_angles(_angles(rng))


def pose_from_angles(a: dict) -> dict:
    """Named 3D points (mm, body frame) of the joint angles `a` (degrees, _angles' keys)."""
    pelvis_rot = rot_y(a["pelvis_yaw"])
    upper = rot_y(a["twist"]) @ rot_x(-a["lean"]) @ rot_z(a["side_bend"])
    p = {"pelvis": np.zeros(3), "neck": PELVIS_TO_NECK_MM * (upper @ UP)}
    p["spine"] = SPINE_FRACTION * p["neck"]
    head_dir = upper @ rot_x(-a["nod"]) @ rot_z(a["head_tilt"]) @ UP
    p["head_top"] = p["neck"] + NECK_TO_HEAD_TOP_MM * head_dir
    p["upper_neck"] = p["neck"] + UPPER_NECK_FRACTION * (p["head_top"] - p["neck"])
    forward = upper @ np.array([0.0, 0.0, HEAD_FORWARD_MM])
    p[EXTRA_POINT] = p["neck"] + HEAD_CENTRE_FRACTION * (p["head_top"] - p["neck"]) + forward
    for side, sign in SIDES.items():
        hip = pelvis_rot @ np.array([sign * PELVIS_TO_HIP_MM, 0.0, 0.0])
        thigh = pelvis_rot @ rot_z(sign * a[f"{side}_hip_abd"]) @ rot_x(-a[f"{side}_hip_flex"])
        knee = hip + LIMB_MM["hip_knee"] * (thigh @ DOWN)
        ankle = knee + LIMB_MM["knee_ankle"] * (thigh @ rot_x(a[f"{side}_knee"]) @ DOWN)
        shoulder = p["neck"] + upper @ np.array([sign * NECK_TO_SHOULDER_MM, 0.0, 0.0])
        arm = (
            upper
            @ rot_z(sign * a[f"{side}_shoulder_abd"])
            @ rot_x(-a[f"{side}_shoulder_flex"])
            @ rot_y(sign * a[f"{side}_humeral"])
        )
        elbow = shoulder + LIMB_MM["shoulder_elbow"] * (arm @ DOWN)
        wrist = elbow + LIMB_MM["elbow_wrist"] * (arm @ rot_x(-a[f"{side}_elbow"]) @ DOWN)
        p |= {f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_ankle": ankle}
        p |= {f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist}
    return p


def global_rotation(rng, max_tilt_deg=8.0) -> np.ndarray:
    """Body frame -> camera frame (x right, y down, z forward): any heading, mostly upright."""
    tilt = np.clip(rng.normal(0.0, max_tilt_deg / 2, size=2), -max_tilt_deg, max_tilt_deg)
    body_to_camera = np.diag([1.0, -1.0, -1.0])  # a half turn about x: y up -> y down
    return body_to_camera @ rot_y(rng.uniform(0, 360)) @ rot_x(tilt[0]) @ rot_z(tilt[1])


def place(points: dict, rotation: np.ndarray, translation) -> dict:
    """Named points moved into the camera frame (mm)."""
    t = np.asarray(translation, float)
    return {name: rotation @ xyz + t for name, xyz in points.items()}


def project(points: dict, focal: float, principal) -> tuple[dict, dict]:
    """Pinhole projection: (pixels {name: (u, v)}, pixels per mm at each point's depth)."""
    c = np.asarray(principal, float)
    uv = {name: focal * xyz[:2] / xyz[2] + c for name, xyz in points.items()}
    ppm = {name: focal / xyz[2] for name, xyz in points.items()}
    return uv, ppm


def our_joints(points: dict, style: dict) -> np.ndarray:
    """Our 16 joints [16, D] from named points, in the given annotation style."""
    return np.stack([points[style[name]] for name in skeleton.JOINT_NAMES])


def seventeen_joints(points: dict, to_mpii) -> np.ndarray:
    """A 17-joint dataset order (H36M or 3DHP) given its index map to ours."""
    ours = our_joints(points, H36M_STYLE)
    out = np.empty((len(to_mpii) + 1, ours.shape[1]))
    out[list(to_mpii)] = ours
    extra = sorted(set(range(len(out))) - set(to_mpii))
    out[extra] = points[EXTRA_POINT]
    return out
