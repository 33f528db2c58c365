"""Speaker-adversarial training: a speaker head behind a gradient reversal, so the embedding forgets who is speaking.

The head tries to name the training speaker from the pooled embedding (the input of
the ``logits`` layer); the reversal flips its gradient into the network, which is
pushed toward features that do not tell speakers apart (Ganin & Lempitsky 2015).
The strength ramps up from 0 over training, as DANN does, so the emotion task is
learnt first. Only the emotion model ships: the head exists during training alone.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers


class GradientReversal(layers.Layer):
    """Identity forward; backward, the gradient times ``-strength`` (a variable a callback ramps)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.strength = tf.Variable(0.0, trainable=False, dtype=tf.float32)

    def call(self, x):
        strength = self.strength

        @tf.custom_gradient
        def reverse(t):
            return tf.identity(t), lambda dy: -tf.cast(strength, dy.dtype) * dy  # float16 under mixed precision

        return reverse(x)


def with_speaker_head(model: keras.Model, n_speakers: int) -> tuple[keras.Model, GradientReversal]:
    """A training model whose one output is the emotion logits followed by the speaker logits, and its reversal layer."""
    embedding = model.get_layer("logits").input
    reversal = GradientReversal(name="speaker_reversal")
    speaker = layers.Dense(n_speakers, name="speaker_logits", dtype="float32")(reversal(embedding))
    return keras.Model(model.input, layers.Concatenate(name="joint", dtype="float32")([model.output, speaker])), reversal


def joint_loss(n_labels: int, label_smoothing: float):
    """Per-window loss of the joint output: emotion cross-entropy (smoothed) plus speaker cross-entropy."""
    emotion = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing, reduction=None)

    def loss(targets, outputs):
        speaker = keras.ops.categorical_crossentropy(targets[:, n_labels:], outputs[:, n_labels:], from_logits=True)
        return emotion(targets[:, :n_labels], outputs[:, :n_labels]) + speaker

    return loss


def emotion_accuracy(n_labels: int):
    """Top-1 accuracy on the emotion part of the joint output, logged under the name the plain model's has."""

    def categorical_accuracy(targets, outputs):
        return keras.metrics.categorical_accuracy(targets[:, :n_labels], outputs[:, :n_labels])

    return categorical_accuracy


def ramp(strength: float, epoch: int, epochs: int) -> float:
    """DANN's schedule: ``strength * (2 / (1 + exp(-10 p)) - 1)`` at training progress p, 0 at the start."""
    return strength * (2.0 / (1.0 + math.exp(-10.0 * epoch / max(epochs, 1))) - 1.0)


def ramp_callback(reversal: GradientReversal, strength: float, epochs: int) -> keras.callbacks.Callback:
    """Sets the reversal's strength at the start of every epoch."""

    class Ramp(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            reversal.strength.assign(ramp(strength, epoch, epochs))

    return Ramp()


def speaker_targets(speakers: list[str]) -> tuple[np.ndarray, int]:
    """Each clip's speaker index (sorted names) and the number of speakers."""
    names = sorted(set(speakers))
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[s] for s in speakers], dtype=np.int32), len(names)
