"""Every person of a video with a track ID that stays theirs.

Frames are taken `chunk` at a time. The detector runs on a chunk's first frame when
no one is tracked yet, every `detect_every` frames, on the chunk after one where a
track or candidate was seen for the first time (a second sighting gives its velocity,
and confirms a candidate), and after a track's score fell below `redetect_fraction` of
its score when last detected. Its people are matched to the tracks by box overlap with
each track's box moved on by its velocity (association.py); a matched track takes the
detected box. An unmatched detection that overlaps a matched detection's box, or a
better new one's, by `min_iou` is a second view of that person (a part of a half-hidden
person, say) and is dropped; any other starts a track: at once when the detector is
sure (`confirm_score`), else as a candidate that becomes a track only when the next
detector run finds it again (candidates are not output and not fed to the network).
A track gets its ID when it is confirmed; one unmatched by `max_missed` detector runs
in a row ends, and its ID is never given again.

Between detections each track's box moves on at the velocity its detections gave (its
centre only: the sides of a person's detections jump too much to extrapolate); the
box of the joints the network found is taken instead when it overlaps that prediction
by `follow_iou` and keeps its side within FOLLOW_SIZE of the detected one (a person
turning or bending changes their box before the detector sees it again), and refused
otherwise (the network drawn to a person crossing in
front, or an untrained network seeing no one). All tracks' crops of all frames of a
chunk go through the network together.
"""

import dataclasses

import numpy as np

from pose3d_jax.tracking import association, boxes

# The joints' box is followed while its side stays within this factor of the detected side.
FOLLOW_SIZE = 1.25


@dataclasses.dataclass(frozen=True)
class TrackSettings:
    chunk: int = 4
    detect_every: int = 8
    redetect_fraction: float = 0.5
    min_iou: float = 0.3
    max_missed: int = 2
    confirm_score: float = 0.8
    follow_iou: float = 0.6
    velocity_smoothing: float = 0.5  # weight of the newest detection's velocity

    def __post_init__(self):
        if self.chunk < 1 or self.detect_every < 1 or self.max_missed < 0:
            raise ValueError("chunk and detect_every must be >= 1 and max_missed >= 0")
        names = (
            "redetect_fraction",
            "min_iou",
            "confirm_score",
            "follow_iou",
            "velocity_smoothing",
        )
        for name in names:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class Detected:
    """A detector's person: box [x, y, w, h], score (None for a box not scored by a
    detector: a user's box, the network's search; such a track is confirmed at once), and
    what the caller keeps with it."""

    box: tuple
    score: float | None
    payload: object = None


@dataclasses.dataclass(frozen=True)
class TrackedPerson:
    """One person in one frame: their track ID, the box the network saw, whether the
    detector placed it on this frame (with its score), the network's score and result."""

    track_id: int
    box: list
    detected: bool
    detector_score: float | None
    score: float
    result: object
    detection: object = None


@dataclasses.dataclass
class TrackedFrame:
    frame: object
    people: list = dataclasses.field(default_factory=list)
    detector_ran: bool = False
    skipped: str = ""


@dataclasses.dataclass
class _Track:
    track_id: int | None  # None while a candidate
    square: np.ndarray  # (cx, cy, side) at frame `at`
    at: int
    velocity: np.ndarray  # per frame
    detected_square: np.ndarray
    detected_at: int
    reference_score: float | None = None
    missed: int = 0
    low: bool = False
    detections: int = 1

    def predicted(self, frame_index) -> np.ndarray:
        square = self.square + self.velocity * (frame_index - self.at)
        square[2] = max(square[2], 8.0)
        return square


def mean_confidence(result) -> float:
    return float(np.mean(result.confidence))


class Tracker:
    """detect(image) -> [Detected]; estimate(images, boxes) -> results with .joints_2d and
    .confidence, one per (image, [x, y, w, h] box) pair, in order."""

    def __init__(self, detect, estimate, settings=TrackSettings()):
        self.detect, self.estimate, self.settings = detect, estimate, settings
        self.tracks: list[_Track] = []
        self.next_id, self.last_detection, self.detector_runs = 0, None, 0
        self.ended: list[int] = []

    def _due(self, index) -> bool:
        if not self.tracks or self.last_detection is None:
            return True
        if index - self.last_detection >= self.settings.detect_every:
            return True
        return any(t.low or (t.detections == 1 and not t.missed) for t in self.tracks)

    def _confirm(self, track):
        if track.track_id is None:
            track.track_id = self.next_id
            self.next_id += 1

    def _new_track(self, detected, index):
        square = boxes.from_xywh(detected.box)
        track = _Track(None, square, index, np.zeros(3), square.copy(), index)
        if detected.score is None or detected.score >= self.settings.confirm_score:
            self._confirm(track)
        self.tracks.append(track)
        return track

    def confirmed(self):
        return sorted((t for t in self.tracks if t.track_id is not None), key=lambda t: t.track_id)

    def _update(self, track, detected, index):
        square = boxes.from_xywh(detected.box)
        if index > track.detected_at:
            newest = (square - track.detected_square) / (index - track.detected_at)
            newest[2] = 0.0  # the side is not extrapolated: detected sides are too noisy
            w = 1.0 if track.detections == 1 else self.settings.velocity_smoothing
            track.velocity = w * newest + (1.0 - w) * track.velocity
            track.detections += 1
        track.square, track.at = square, index
        track.detected_square, track.detected_at = square.copy(), index
        track.missed, track.low, track.reference_score = 0, False, None

    def _run_detector(self, frame):
        """Matches the detector's people on `frame` to the tracks: {track_id: Detected}."""
        found = self.detect(frame.image)
        self.detector_runs += 1
        self.last_detection = frame.index
        predicted = [boxes.to_xywh(t.predicted(frame.index)) for t in self.tracks]
        pairs, unmatched, new = association.match(
            predicted, [d.box for d in found], self.settings.min_iou
        )
        placed = {}
        for i, j in pairs:
            self._confirm(self.tracks[i])
            self._update(self.tracks[i], found[j], frame.index)
            placed[self.tracks[i].track_id] = found[j]
        for i in unmatched:
            self.tracks[i].missed += 1
        alive = []
        for t in self.tracks:
            if t.track_id is None and t.missed > 0 or t.missed > self.settings.max_missed:
                if t.track_id is not None:
                    self.ended.append(t.track_id)
            else:
                alive.append(t)
        taken = [found[j].box for _, j in pairs]
        self.tracks = alive
        for j in sorted(new, key=lambda j: -(found[j].score or 1.0)):
            if taken and boxes.iou_matrix([found[j].box], taken).max() >= self.settings.min_iou:
                continue  # another view of a person already matched or just found
            taken.append(found[j].box)
            track = self._new_track(found[j], frame.index)
            if track.track_id is not None:
                placed[track.track_id] = found[j]
        return placed

    def _follow(self, track, result, index):
        """After the network's result on frame `index`: the track's box for what follows."""
        score = mean_confidence(result)
        if track.reference_score is None:
            track.reference_score = score
        track.low = score < self.settings.redetect_fraction * track.reference_score
        predicted = track.predicted(index)
        joints = boxes.from_joints(result.joints_2d, result.confidence)
        overlap = boxes.iou(boxes.to_xywh(joints), boxes.to_xywh(predicted))
        size = joints[2] / track.detected_square[2]
        if overlap >= self.settings.follow_iou and 1 / FOLLOW_SIZE <= size <= FOLLOW_SIZE:
            track.square, track.at = joints, index
        return score

    def _run_chunk(self, frames):
        detected = {}
        ran = self._due(frames[0].index)
        if ran:
            detected = self._run_detector(frames[0])
        requests = [
            (frame, track, boxes.to_xywh(track.predicted(frame.index)))
            for frame in frames
            for track in self.confirmed()
        ]
        results = self.estimate([f.image for f, _, _ in requests], [b for _, _, b in requests])
        out = {f.index: TrackedFrame(f, detector_ran=ran and i == 0) for i, f in enumerate(frames)}
        for (frame, track, box), result in zip(requests, results, strict=True):
            score = self._follow(track, result, frame.index)
            found = detected.get(track.track_id) if frame.index == frames[0].index else None
            out[frame.index].people.append(
                TrackedPerson(
                    track.track_id,
                    box,
                    found is not None,
                    None if found is None or found.score is None else float(found.score),
                    score,
                    result,
                    None if found is None else found.payload,
                )
            )
        return [out[f.index] for f in frames]

    def run(self, frames):
        """Yields a TrackedFrame per frame of the iterable `frames` (objects with .index,
        .image, and .problem when .image is None), in order."""
        waiting = []
        for frame in frames:
            if frame.image is None:
                if waiting:
                    yield from self._run_chunk(waiting)
                    waiting = []
                yield TrackedFrame(frame, skipped=getattr(frame, "problem", "") or "unreadable")
                continue
            waiting.append(frame)
            if len(waiting) == self.settings.chunk:
                yield from self._run_chunk(waiting)
                waiting = []
        if waiting:
            yield from self._run_chunk(waiting)
