"""Torch-free inference from a bundle: ``Predictor`` (ONNX Runtime + numpy + Pillow/pydicom),
the operating-threshold decision, and batch prediction over files into a CSV."""
