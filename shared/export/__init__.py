"""Trained models in formats other programs read (ONNX)."""
