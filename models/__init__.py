"""Shipped data, installed as ``ser_edge.models``: the default converted model with its metadata, and example clips."""
