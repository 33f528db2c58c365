"""Small CNNs for (frames, coefficients) MFCC windows, built from int8-friendly layers only.

Conv, batch norm (folded into the conv at conversion), ReLU, pooling and dense
layers quantise cleanly to full-integer int8. Each builder keeps well under the
300k-parameter budget a Raspberry Pi model should have.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from ser_edge.train.fit import POOLS

MAX_PARAMS = 300_000


def _conv2d_block(x, filters: int, pool: tuple[int, int] | None, dropout: float):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    if pool:
        x = layers.MaxPooling2D(pool)(x)
    return layers.SpatialDropout2D(dropout)(x) if dropout else x


def cnn2d(frames: int, coefs: int, n_classes: int, width: int = 32, dropout: float = 0.1) -> keras.Model:
    """Four 3x3 conv blocks over time x cepstrum, global average pooling, dense softmax."""
    inp = keras.Input((frames, coefs), name="mfcc")
    x = layers.Reshape((frames, coefs, 1))(inp)
    for i, mult in enumerate((1, 2, 3, 4)):
        x = _conv2d_block(x, width * mult, (2, 2) if i < 3 else None, dropout)
    x = layers.GlobalAveragePooling2D()(x)
    return _head(inp, x, n_classes, "cnn2d")


def _ds_block(x, filters: int, pool: tuple[int, int] | None):
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    return layers.MaxPooling2D(pool)(x) if pool else x


def dscnn(frames: int, coefs: int, n_classes: int, width: int = 64, dropout: float = 0.2) -> keras.Model:
    """Depthwise-separable CNN in the style of the MLPerf Tiny keyword-spotting model."""
    inp = keras.Input((frames, coefs), name="mfcc")
    x = layers.Reshape((frames, coefs, 1))(inp)
    x = layers.Conv2D(width, (5, 3), strides=(2, 1), padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for i, mult in enumerate((1, 2, 2, 3)):
        x = _ds_block(x, width * mult, (2, 2) if i < 3 else None)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return _head(inp, x, n_classes, "dscnn")


def cnn1d(frames: int, coefs: int, n_classes: int, width: int = 96, dropout: float = 0.2, pool: str = "avg") -> keras.Model:
    """Temporal convolutions with the coefficients as channels; cheapest per window.

    ``pool='avgmax'`` concatenates global average and max pooling: the max keeps
    the strongest local evidence (a shout, a laugh) that averaging dilutes.
    ``pool='stats'`` concatenates the mean and the mean square over time (statistics
    pooling: how much a feature varies, not only its level; no square root, so it
    stays int8-friendly).
    """
    inp = keras.Input((frames, coefs), name="mfcc")
    x = inp
    for i, (mult, kernel) in enumerate(((1, 5), (1, 5), (2, 3), (2, 3))):
        x = layers.Conv1D(width * mult, kernel, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        if i < 3:
            x = layers.MaxPooling1D(2)(x)
    pooled = layers.GlobalAveragePooling1D()(x)
    if pool == "avgmax":
        pooled = layers.Concatenate()([pooled, layers.GlobalMaxPooling1D()(x)])
    elif pool == "stats":
        pooled = layers.Concatenate()([pooled, layers.GlobalAveragePooling1D()(layers.Multiply()([x, x]))])
    elif pool != "avg":
        raise ValueError(f"unknown pooling {pool!r}; choose from {list(POOLS)}")
    x = layers.Dropout(dropout)(pooled)
    return _head(inp, x, n_classes, "cnn1d")


def _head(inp, x, n_classes: int, name: str) -> keras.Model:
    logits = layers.Dense(n_classes, name="logits", dtype="float32")(x)
    return keras.Model(inp, logits, name=name)


ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {"cnn2d": cnn2d, "dscnn": dscnn, "cnn1d": cnn1d}


def build_network(arch: str, frames: int, coefs: int, n_classes: int, **kwargs) -> keras.Model:
    """Build a named architecture (outputs logits) and check the parameter budget."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHITECTURES)}")
    model = ARCHITECTURES[arch](frames, coefs, n_classes, **kwargs)
    if model.count_params() > MAX_PARAMS:
        raise ValueError(f"{arch} has {model.count_params()} parameters, over the {MAX_PARAMS} budget")
    return model


def calibrated(logits_model: keras.Model, temperature: float) -> keras.Model:
    """The shipped form: logits divided by the fitted temperature, then softmax, inside the model."""
    # float32 even under a mixed-precision policy, so probabilities are not computed in float16.
    scaled = layers.Rescaling(1.0 / temperature, name="temperature", dtype="float32")(logits_model.output)
    probs = layers.Softmax(name="probabilities", dtype="float32")(scaled)
    return keras.Model(logits_model.input, probs, name=logits_model.name)
