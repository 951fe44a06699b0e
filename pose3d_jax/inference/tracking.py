"""Following one person through a video: localise once, then crop from their joints.

Frames go through the network `chunk` at a time with the crop taken from the
last accepted frame's joints (a person moves little in a few frames; chunk=1
is strict frame-by-frame tracking). A frame whose score falls below
`relocalise_fraction` of the score at the last localisation is localised
afresh (localise.py), at most once every `min_relocalise_gap` frames, and the
frames after it are re-run from the new crop. Optional One-Euro smoothing of
the 2D and 3D joints (smoothing.py), reset at every re-localisation.
"""

import dataclasses

from pose3d_jax.inference import localise as localise_lib
from pose3d_jax.inference import smoothing as smoothing_lib


@dataclasses.dataclass(frozen=True)
class TrackSettings:
    chunk: int = 4
    relocalise_fraction: float = 0.5
    min_relocalise_gap: int = 10
    smoothing: smoothing_lib.OneEuroSettings | None = None


@dataclasses.dataclass
class TrackedFrame:
    """A frame's result: its prediction (None when skipped), why it was skipped,
    whether it was re-localised and its score."""

    frame: object
    prediction: object = None
    score: float = 0.0
    relocalised: bool = False
    skipped: str = ""


class Tracker:
    """Feeds frames through a Predictor; see the module docstring."""

    def __init__(self, predictor, settings=TrackSettings()):
        self.predictor, self.settings = predictor, settings
        self.crop, self.reference_score, self.since_localised = None, 0.0, 0
        self.relocalisations = 0
        self.filters = None
        if settings.smoothing is not None:
            self.filters = [smoothing_lib.OneEuroFilter(settings.smoothing) for _ in range(2)]

    def _localise(self, image):
        crop, prediction = self.predictor.localise(image)
        self.crop = crop
        self.reference_score = localise_lib.crop_score(prediction.confidence)
        self.since_localised = 0
        if self.filters:
            for f in self.filters:
                f.reset()
        return prediction

    def _follow(self, prediction):
        crop = localise_lib.crop_from_joints(prediction.joints_2d, prediction.confidence)
        self.crop = dataclasses.replace(crop, source="tracked")

    def _smooth(self, prediction, time):
        if not self.filters:
            return prediction
        joints_2d = self.filters[0](prediction.joints_2d, time)
        joints_3d = self.filters[1](prediction.joints_3d_mm, time)
        return dataclasses.replace(prediction, joints_2d=joints_2d, joints_3d_mm=joints_3d)

    def _accept(self, frame, prediction, relocalised):
        score = localise_lib.crop_score(prediction.confidence)
        self._follow(prediction)
        self.since_localised += 1
        smoothed = self._smooth(prediction, frame.time)
        return TrackedFrame(frame, smoothed, score, relocalised)

    def _run_chunk(self, frames):
        """Results of the leading frames of `frames` (at least one); the rest wait."""
        if self.crop is None:
            prediction = self._localise(frames[0].image)
            self.relocalisations += 1
            return [self._accept(frames[0], prediction, True)]
        predictions = self.predictor.predict_crops(
            [f.image for f in frames], [self.crop] * len(frames), pad_to=self.settings.chunk
        )
        results = []
        for frame, prediction in zip(frames, predictions, strict=True):
            score = localise_lib.crop_score(prediction.confidence)
            low = score < self.settings.relocalise_fraction * self.reference_score
            if low and self.since_localised >= self.settings.min_relocalise_gap:
                found = self._localise(frame.image)
                self.relocalisations += 1
                if localise_lib.crop_score(found.confidence) > score:
                    results.append(self._accept(frame, found, True))
                    return results  # the following frames are re-run from the new crop
                self.reference_score = score
            results.append(self._accept(frame, prediction, False))
        return results

    def _drain(self, waiting):
        while waiting:
            done = self._run_chunk(waiting)
            del waiting[: len(done)]
            yield from done

    def run(self, frames):
        """Yields a TrackedFrame per frame of the iterable `frames` (video_io.Frame), in order."""
        waiting = []
        for frame in frames:
            if frame.image is None:
                yield from self._drain(waiting)
                yield TrackedFrame(frame, skipped=frame.problem or "unreadable frame")
                continue
            waiting.append(frame)
            if len(waiting) == self.settings.chunk:
                done = self._run_chunk(waiting)
                del waiting[: len(done)]
                yield from done
        yield from self._drain(waiting)
