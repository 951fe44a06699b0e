"""Finding people: BlazePose's trained person detector (MediaPipe's pose_detection.tflite).

model_file.py gets and checks the model file, anchors.py and decode.py turn its
raw tensors into detections as MediaPipe's own graph does, windows.py cuts an
image into the detector's square inputs, detector.py runs it (LiteRT) and merges
the windows' detections into one list of people.
"""
