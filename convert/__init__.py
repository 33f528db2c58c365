"""Conversion side: a trained Keras model to verified TFLite (float, int8) and ONNX files with metadata."""
