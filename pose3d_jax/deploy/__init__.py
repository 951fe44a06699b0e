"""Deployment: the network as ONNX, StableHLO or a TF SavedModel, with its contract."""
