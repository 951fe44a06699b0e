"""Tracking: box overlap and assignment by hand, the tracks' life and IDs on scripted
detections, smoothing per track, and two real people crossing in a clip made of the
release's frames, followed through the whole pipeline (detector, network, tracker)."""

import dataclasses

import numpy as np
import pytest

from datasets import pasted_scenes
from pose3d_jax.inference import predictor as predictor_lib
from pose3d_jax.inference import video, video_io
from pose3d_jax.tracking import association, boxes, smoothing, tracker


def test_iou_matrix_by_hand():
    a = [[0, 0, 10, 10], [20, 0, 10, 10]]
    b = [[5, 0, 10, 10], [0, 0, 10, 10], [100, 100, 1, 1]]
    np.testing.assert_allclose(
        boxes.iou_matrix(a, b), [[50 / 150, 1.0, 0.0], [0.0, 0.0, 0.0]], atol=1e-12
    )
    np.testing.assert_allclose(boxes.from_xywh([10, 20, 30, 40]), [25, 40, 40])


def test_assignment_maximises_the_total_overlap_not_the_first_pick():
    # greedy would give detection 0 to track 0 (IoU 0.6) and leave track 1 unmatched;
    # the assignment pairs track 0 with detection 1 (0.5) and track 1 with detection 0 (0.4)
    tracks = [[0, 0, 10, 10], [4, 0, 10, 10]]
    detections = [[1.5, 0, 10, 10], [-3.3, 0, 10, 10]]
    overlap = boxes.iou_matrix(tracks, detections)
    assert overlap[0, 0] > overlap[0, 1] and overlap[0, 0] > overlap[1, 0]
    pairs, lone_tracks, lone_detections = association.match(tracks, detections, min_iou=0.3)
    assert sorted(pairs) == [(0, 1), (1, 0)] and lone_tracks == [] and lone_detections == []
    assert association.match(tracks, [[50, 50, 5, 5]], 0.3) == ([], [0, 1], [0])


@dataclasses.dataclass
class _Frame:
    index: int
    image: object
    time: float = 0.0


@dataclasses.dataclass
class _Result:
    joints_2d: np.ndarray
    confidence: np.ndarray


def _joints_filling(box):
    """Joints whose boxes.from_joints square is `box` (so the tracker's follow keeps it)."""
    x, y, w, _ = box
    inner = w / 1.3
    corners = np.array([[0, 0], [1, 0], [0, 1], [1, 1]] * 4, np.float64)
    return np.array([x + (w - inner) / 2, y + (w - inner) / 2]) + corners * inner


class _World:
    """Scripted people: {person: (first frame, last frame, x0, speed px/frame, score)};
    the 'image' of a frame is its index."""

    def __init__(self, people, side=100.0):
        self.people, self.side = people, side
        self.detect_calls, self.estimate_calls = [], []

    def box(self, person, index):
        first, last, x0, speed, _ = self.people[person]
        return [x0 + speed * index, 50.0, self.side, self.side] if first <= index <= last else None

    def detect(self, index):
        self.detect_calls.append(index)
        return [
            tracker.Detected(self.box(p, index), self.people[p][4], p)
            for p in self.people
            if self.box(p, index) is not None
        ]

    def estimate(self, images, boxes_):
        self.estimate_calls.append(len(boxes_))
        return [_Result(_joints_filling(b), np.full(16, 0.8)) for b in boxes_]


def _run(world, frames, **settings):
    follow = tracker.Tracker(world.detect, world.estimate, tracker.TrackSettings(**settings))
    out = list(follow.run(_Frame(i, i) for i in range(frames)))
    return follow, out


def _ids_of(world, out, person):
    """{track IDs} given to `person` over the frames where it is, by best box overlap."""
    ids = set()
    for tracked in out:
        truth = world.box(person, tracked.frame.index)
        if truth is None or not tracked.people:
            continue
        overlaps = [boxes.iou(truth, p.box) for p in tracked.people]
        if max(overlaps) >= 0.5:
            ids.add(tracked.people[int(np.argmax(overlaps))].track_id)
    return ids


def test_a_new_person_gets_a_new_id_and_a_lost_track_ends_for_good():
    world = _World({
        "walker": (0, 47, 0.0, 4.0, 0.95),
        "visitor": (16, 23, 500.0, 0.0, 0.9),
        "latecomer": (40, 47, 800.0, 0.0, 0.9),
    })  # fmt: skip
    follow, out = _run(world, 48, chunk=4, detect_every=8, max_missed=1)
    # every 8 frames, and on the chunk after a first sighting (frames 4, 24, 44)
    assert world.detect_calls == [0, 4, 12, 20, 24, 32, 40, 44]
    assert _ids_of(world, out, "walker") == {0}
    assert _ids_of(world, out, "visitor") == {1}
    assert _ids_of(world, out, "latecomer") == {2}  # 1 is never given again
    assert follow.ended == [1]  # unmatched at frames 24 and 32
    assert [len(out[i].people) for i in (0, 19, 20, 23, 32, 40)] == [1, 1, 2, 2, 1, 2]
    assert all(t.people[0].detected == (t.frame.index in world.detect_calls) for t in out)


def test_a_weak_detection_becomes_a_track_only_when_seen_again():
    world = _World({"sure": (0, 31, 0.0, 0.0, 0.95), "weak": (0, 31, 400.0, 0.0, 0.6),
                    "flash": (0, 3, 800.0, 0.0, 0.6)})  # fmt: skip
    _, out = _run(world, 32, chunk=4, detect_every=8)
    assert [len(t.people) for t in out[:4]] == [1] * 4  # 'weak' and 'flash' wait
    assert len(out[4].people) == 2 and out[4].people[1].track_id == 1  # 'weak', seen twice
    assert _ids_of(world, out, "flash") == set()  # gone by frame 4


def test_a_second_view_of_a_matched_person_starts_no_track():
    world = _World({"person": (0, 15, 0.0, 0.0, 0.95)})
    original = world.detect

    def with_a_part(index):  # the detector also finds the person's upper half
        found = original(index)
        return found + [tracker.Detected([10.0, 50.0, 60.0, 60.0], 0.9, "part")]

    world.detect = with_a_part
    follow, out = _run(world, 16, chunk=4, detect_every=8)
    assert {len(t.people) for t in out} == {1} and follow.next_id == 1


def test_all_tracks_of_a_chunk_go_through_the_network_at_once():
    world = _World({"a": (0, 11, 0.0, 1.0, 0.95), "b": (0, 11, 300.0, -1.0, 0.95)})
    _, out = _run(world, 11, chunk=4)
    assert world.estimate_calls == [8, 8, 6]  # 2 tracks x 4, 4 and 3 frames
    assert [t.frame.index for t in out] == list(range(11))


def test_an_unreadable_frame_is_passed_through_in_order():
    world = _World({"a": (0, 9, 0.0, 0.0, 0.95)})
    follow = tracker.Tracker(world.detect, world.estimate, tracker.TrackSettings(chunk=4))
    frames = [_Frame(i, None if i == 5 else i) for i in range(10)]
    out = list(follow.run(frames))
    assert [t.frame.index for t in out] == list(range(10))
    assert out[5].skipped and out[5].people == [] and len(out[6].people) == 1


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="detect_every"):
        tracker.TrackSettings(detect_every=0)
    with pytest.raises(ValueError, match="min_iou"):
        tracker.TrackSettings(min_iou=1.5)


def _jitter(track):
    """Mean frame-to-frame change of the velocity (px per frame^2): noise, not motion."""
    return float(np.abs(np.diff(np.asarray(track), n=2, axis=0)).mean())


def test_smoothing_is_per_track_and_lowers_jitter():
    rng = np.random.default_rng(3)
    smoother = video.TrackSmoother(smoothing.OneEuroSettings())
    truth = {k: [np.full((16, 2), 100.0 * k) + [40 * t / 25, 0] for t in range(60)] for k in (0, 1)}
    raw = {0: [], 1: []}
    smooth = {0: [], 1: []}
    for t in range(60):
        for k in (0, 1):
            noisy = truth[k][t] + rng.normal(0, 3.0, (16, 2))
            result = _Result(noisy, np.full(16, 0.8))
            result = dataclasses.replace(
                predictor_lib.Prediction((), noisy, result.confidence, np.zeros((16, 3)), None,
                                         (1, 1)))  # fmt: skip
            person = tracker.TrackedPerson(k, [0, 0, 1, 1], False, None, 0.8, result)
            raw[k].append(noisy)
            smooth[k].append(smoother(person, t / 25).result.joints_2d)
    for k in (0, 1):
        assert _jitter(smooth[k]) < 0.5 * _jitter(raw[k])
        error = np.abs(np.asarray(smooth[k]) - np.asarray(truth[k]))[10:].mean()
        assert error < np.abs(np.asarray(raw[k]) - np.asarray(truth[k]))[10:].mean()
        assert np.abs(np.asarray(smooth[k])[:, :, 1] - 100.0 * k).max() < 15  # no cross-talk


def test_two_real_people_crossing_keep_their_track_ids(
    person_detector, real_frames, tiny_checkpoint, tmp_path
):
    clip = pasted_scenes.crossing_clip(np.random.default_rng(0), real_frames)
    frames = [video_io.Frame(i, i / 25, scene.image) for i, scene in enumerate(clip)]

    class _Source(list):
        path, fps, count = tmp_path / "crossing.mp4", 25.0, len(frames)

    runner = predictor_lib.Predictor.from_checkpoint(
        tiny_checkpoint, warn=False, detector=person_detector
    )
    summary = video.process(runner, _Source(frames), tmp_path / "out", "crossing")
    lines = (tmp_path / "out" / "crossing.jsonl").read_text().splitlines()
    records = [__import__("json").loads(line) for line in lines]
    ids = {0: [], 1: []}
    for record, scene in zip(records, clip, strict=True):  # who is who: as MOT scoring does,
        people = record["people"]  # the assignment of truth to tracks of highest overlap
        pairs, _, _ = association.match(scene.truth, [p["box_xywh"] for p in people], 0.3)
        for k, j in pairs:
            ids[k].append(people[j]["track_id"])
    assert len(ids[0]) >= 36 and len(ids[1]) >= 36, ids  # found in 90% of the 40 frames
    assert set(ids[0]) == {ids[0][0]} and set(ids[1]) == {ids[1][0]} != {ids[0][0]}
    assert len(summary["tracks"]) == 2 and summary["frames"] == 40
    assert clip[0].truth[0][0] < clip[0].truth[1][0] and clip[-1].truth[0][0] > clip[-1].truth[1][0]
