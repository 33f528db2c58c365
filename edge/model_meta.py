"""What a model carries so nothing downstream can run it with the wrong front end.

Every model file ``X`` has a sidecar ``X.json`` holding its labels, feature and
window settings, calibration temperature, version and training summary, bound
to the model bytes by SHA-256. ONNX files also hold the same JSON inside their
``metadata_props`` (key ``ser_edge``). The edge loader refuses a model whose
metadata is missing, malformed or bound to other bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ser_edge.features import FeatureSpec
from ser_edge.windows import WindowSpec

FORMAT_VERSION = 1
METADATA_KEY = "ser_edge"


class ModelMetaError(ValueError):
    """A model's metadata is missing, malformed or does not belong to the model file."""


@dataclass(frozen=True)
class ModelMeta:
    """Labels, front end and calibration of one trained model."""

    labels: tuple[str, ...]
    features: FeatureSpec
    window: WindowSpec
    temperature: float = 1.0  # already applied inside the model; recorded for reference
    version: str = "0"
    training: Mapping[str, Any] = field(default_factory=dict)
    model_sha256: str = ""  # bytes of the file this metadata describes ("" before it is bound)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "labels": list(self.labels),
            "features": self.features.to_dict(),
            "window": self.window.to_dict(),
            "temperature": self.temperature,
            "version": self.version,
            "training": dict(self.training),
            "model_sha256": self.model_sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMeta:
        try:
            if data["format_version"] != FORMAT_VERSION:
                raise ModelMetaError(f"metadata format {data['format_version']} is not {FORMAT_VERSION}")
            labels = tuple(str(x) for x in data["labels"])
            if not labels or len(set(labels)) != len(labels):
                raise ModelMetaError("labels must be a non-empty list of distinct names")
            return cls(
                labels=labels,
                features=FeatureSpec.from_dict(data["features"]),
                window=WindowSpec.from_dict(data["window"]),
                temperature=float(data.get("temperature", 1.0)),
                version=str(data.get("version", "0")),
                training=dict(data.get("training", {})),
                model_sha256=str(data.get("model_sha256", "")),
            )
        except ModelMetaError:
            raise
        except KeyError as exc:
            raise ModelMetaError(f"metadata lacks the field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ModelMetaError(f"metadata is malformed: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def bound_to(self, model_path: str | os.PathLike) -> ModelMeta:
        """A copy bound to the current bytes of ``model_path``."""
        return dataclasses.replace(self, model_sha256=file_sha256(model_path))


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_path(model_path: str | os.PathLike) -> Path:
    return Path(str(model_path) + ".json")


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write via a temporary file, fsync and rename, so readers never see half a file; usual umask permissions."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """``write_bytes_atomic`` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, data: Any, sort_keys: bool = False) -> None:
    """Indented JSON (NumPy scalars as floats), written atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=sort_keys, default=float) + "\n")


def write_sidecar(model_path: str | os.PathLike, meta: ModelMeta) -> ModelMeta:
    """Bind ``meta`` to the model file's bytes and write it beside the model; returns the bound copy."""
    bound = meta.bound_to(model_path)
    write_text_atomic(sidecar_path(model_path), bound.to_json() + "\n")
    return bound


def parse_meta_json(text: str, source: str) -> ModelMeta:
    """Parse metadata JSON, naming ``source`` in any error."""
    try:
        return ModelMeta.from_dict(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ModelMetaError(f"{source}: metadata is not valid JSON ({exc.msg})") from None
    except ModelMetaError as exc:
        raise ModelMetaError(f"{source}: {exc}") from None


def read_sidecar(model_path: str | os.PathLike) -> ModelMeta:
    """Read and verify a model's sidecar metadata; raises ModelMetaError naming the file and the problem."""
    side = sidecar_path(model_path)
    if not side.is_file():
        raise ModelMetaError(f"{model_path}: no metadata file {side.name} beside the model")
    meta = parse_meta_json(side.read_text(encoding="utf-8"), str(side))
    actual = file_sha256(model_path)
    if meta.model_sha256 != actual:
        raise ModelMetaError(
            f"{model_path}: metadata {side.name} belongs to other model bytes "
            f"(sha256 {meta.model_sha256[:12] or 'missing'} != {actual[:12]}); re-run ser-convert"
        )
    return meta
