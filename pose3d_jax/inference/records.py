"""The JSON written for images and videos, as docs/schema/*.schema.json define them.

One place builds every record, so the schema files and the outputs cannot drift apart
(tests/test_schema.py validates real outputs against them). SCHEMA_VERSION changes
whenever a field changes meaning or is removed.
"""

from pose3d_jax import skeleton

SCHEMA_VERSION = 2  # 1: one person per image, top-level joints (before 2026-12-04)
IMAGE_SCHEMA = "pose3d_jax/image"
FRAME_SCHEMA = "pose3d_jax/video_frame"
SUMMARY_SCHEMA = "pose3d_jax/video_summary"

# What the numbers mean, written into every image result and video summary.
CONVENTIONS = {
    "joints_2d": "original-image pixels (x, y); pixel i spans [i, i + 1), its centre is i + 0.5",
    "confidence": "heatmap maximum per joint (higher is surer; not a probability)",
    "joints_3d_mm": (
        "millimetres relative to the pelvis, camera axes (x right, y down, z away from the "
        "camera), scaled so the 14 bones sum to the Human3.6M mean skeleton "
        f"({skeleton.MEAN_SKELETON_BONE_SUM_MM:.0f} mm): the true size is unknown"
    ),
    "joints_3d_camera_mm": (
        "with --fov or --intrinsics: millimetres in the camera's frame (same axes), the pose "
        "of joints_3d_mm moved so it projects onto joints_2d, at the mean skeleton's size "
        "(pose3d_jax/motion/camera.py); depth scales with the person's true size"
    ),
    "box_xywh": "the person's square box found by the detector, original-image pixels",
    "detector_score": "the person detector's score in (0, 1); null when no detector ran",
}


def no_person_message(method) -> str:
    return f"no person found (detection: {method})"


def camera_facts(camera, image_size) -> dict:
    """The JSON's "camera" (motion.camera.CameraModel) for images of `image_size`, or {}."""
    if camera is None:
        return {}
    intrinsics = camera.for_image(*image_size)
    return {"camera": {"intrinsics": intrinsics.to_dict(), "assumption": camera.assumption()}}


def image_record(path, image_size, people, about_run, detection, skeleton_name="mpii16",
                 camera=None) -> dict:  # fmt: skip
    """The JSON of one image: its people (predictor.Prediction) left to right, their
    joints in the order `skeleton_name`; `camera`: the Predictor's CameraModel, if any."""
    from pose3d_jax.inference.predictor import skeleton_facts

    record = {
        "schema": IMAGE_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "image": str(path),
        "image_size": list(image_size),
        **about_run,
        "detection": detection,
        "num_people": len(people),
        "people": [{"index": i, **p.person_dict(skeleton_name)} for i, p in enumerate(people)],
        **skeleton_facts(skeleton_name),
        **camera_facts(camera, image_size),
        "root_joint": skeleton.JOINT_NAMES[skeleton.EVAL_ROOT],
        "conventions": CONVENTIONS,
    }
    if not people:
        record["message"] = no_person_message(detection["method"])
    return record


def tracked_person_entry(person, skeleton_name="mpii16") -> dict:
    """One person of a video frame (tracking.tracker.TrackedPerson with a Prediction)."""
    from pose3d_jax.inference.predictor import joint_fields

    p = person.result
    return {
        "track_id": person.track_id,
        "box_xywh": [round(float(v), 2) for v in person.box],
        "detected": person.detected,
        "detector_score": None
        if person.detector_score is None
        else round(person.detector_score, 4),
        "crop": p.crop.to_dict(),
        **joint_fields(p, skeleton_name, (2, 4, 1)),
        "score": round(float(person.score), 5),
    }


def frame_record(tracked, skeleton_name="mpii16") -> dict:
    """The JSON line of one tracking.tracker.TrackedFrame."""
    frame = tracked.frame
    record = {"frame": frame.index, "time_s": round(frame.time, 4)}
    if tracked.skipped:
        return {**record, "skipped": tracked.skipped}
    people = sorted(tracked.people, key=lambda p: p.track_id)
    return {
        **record,
        "detector_ran": tracked.detector_ran,
        "num_people": len(people),
        "people": [tracked_person_entry(p, skeleton_name) for p in people],
    }
