"""Following people through a video: square boxes and their overlap (boxes.py), matching
detections to tracks (association.py), the tracks' life and identity (tracker.py) and
One-Euro smoothing of each track's joints (smoothing.py). No network, no detector here:
the tracker is handed the functions that run them.
"""
