"""The JSON written for images and videos, as docs/schema/*.schema.json define them.

One place builds every record, so the schema files and the outputs cannot drift apart
(tests/test_schema.py validates real outputs against them). SCHEMA_VERSION changes
whenever a field changes meaning or is removed.
"""

import numpy as np

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
    "box_xywh": "the person's square box found by the detector, original-image pixels",
    "detector_score": "the person detector's score in (0, 1); null when no detector ran",
}


def no_person_message(method) -> str:
    return f"no person found (detection: {method})"


def image_record(path, image_size, people, about_run, detection) -> dict:
    """The JSON of one image: its people (predictor.Prediction) left to right."""
    record = {
        "schema": IMAGE_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "image": str(path),
        "image_size": list(image_size),
        **about_run,
        "detection": detection,
        "num_people": len(people),
        "people": [{"index": i, **p.person_dict()} for i, p in enumerate(people)],
        "joint_names": list(skeleton.JOINT_NAMES),
        "root_joint": skeleton.JOINT_NAMES[skeleton.EVAL_ROOT],
        "conventions": CONVENTIONS,
    }
    if not people:
        record["message"] = no_person_message(detection["method"])
    return record


def tracked_person_entry(person) -> dict:
    """One person of a video frame (tracking.tracker.TrackedPerson with a Prediction)."""
    p = person.result
    return {
        "track_id": person.track_id,
        "box_xywh": [round(float(v), 2) for v in person.box],
        "detected": person.detected,
        "detector_score": None
        if person.detector_score is None
        else round(person.detector_score, 4),
        "crop": p.crop.to_dict(),
        "joints_2d": np.round(p.joints_2d, 2).tolist(),
        "confidence": np.round(p.confidence, 4).tolist(),
        "joints_3d_mm": np.round(p.joints_3d_mm, 1).tolist(),
        "score": round(float(person.score), 5),
    }


def frame_record(tracked) -> dict:
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
        "people": [tracked_person_entry(p) for p in people],
    }
