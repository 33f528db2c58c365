"""Judge a converted model's probabilities against the Keras model's on the test windows.

The converted model itself is run by the device runtime's loader
(``ser_edge.model.load_model``: LiteRT for .tflite, onnxruntime for .onnx), so what
is verified is exactly what the device runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ser_edge.convert.data import WindowSet
from ser_edge.train.fit import clip_probabilities


@dataclass(frozen=True)
class Criteria:
    """Pass marks: float formats by probability difference, quantised ones by agreement and accuracy."""

    max_abs_diff: float = 1e-3
    min_agreement: float = 0.97
    max_accuracy_drop_pp: float = 1.0


@dataclass(frozen=True)
class Figures:
    """How a converted model compares with the Keras model on the test windows."""

    windows: int
    files: int
    max_abs_diff: float
    mean_abs_diff: float
    window_agreement: float  # top-1 agreement with Keras over windows
    keras_accuracy: float  # file-level: mean of a file's window probabilities, then argmax
    model_accuracy: float
    accuracy_drop_pp: float  # keras - model, percentage points
    input_dtype: str
    output_dtype: str
    passed: bool
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_accuracy(probs: np.ndarray, test: WindowSet) -> float:
    """Accuracy of the runtime's file rule: mean window probabilities per file, then argmax."""
    return float(np.mean(clip_probabilities(probs, test.owner, len(test.files)).argmax(axis=1) == test.labels))


def judge(
    reference: np.ndarray,
    probs: np.ndarray,
    types: tuple[str, str],
    test: WindowSet,
    quantised: bool,
    int8_io: bool,
    criteria: Criteria,
) -> Figures:
    """Figures of ``probs`` against the Keras ``reference`` probabilities and whether they meet ``criteria``."""
    diff = np.abs(probs.astype(np.float64) - reference)
    agreement = float(np.mean(probs.argmax(axis=1) == reference.argmax(axis=1)))
    keras_acc, model_acc = file_accuracy(reference, test), file_accuracy(probs, test)
    drop = 100.0 * (keras_acc - model_acc)
    problems = []
    if quantised:
        if agreement < criteria.min_agreement:
            problems.append(f"top-1 agreement {agreement:.1%} < {criteria.min_agreement:.1%}")
        if drop > criteria.max_accuracy_drop_pp + 1e-9:
            problems.append(f"file accuracy drops {drop:.2f} pp > {criteria.max_accuracy_drop_pp:g} pp")
    elif diff.max() > criteria.max_abs_diff:
        problems.append(f"max |probability difference| {diff.max():.2e} > {criteria.max_abs_diff:g}")
    if int8_io and types != ("int8", "int8"):
        problems.append(f"input/output tensors are {types[0]}/{types[1]}, not int8/int8")
    return Figures(
        windows=len(probs),
        files=len(test.files),
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        window_agreement=agreement,
        keras_accuracy=keras_acc,
        model_accuracy=model_acc,
        accuracy_drop_pp=drop,
        input_dtype=types[0],
        output_dtype=types[1],
        passed=not problems,
        problems=problems,
    )
