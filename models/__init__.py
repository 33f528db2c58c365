"""Shipped data, installed as ``edge.models``: the default converted model with its metadata, and example clips."""
