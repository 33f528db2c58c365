"""What a model carries so nothing downstream can run it with the wrong front end.

Every model file ``X`` has a sidecar ``X.json`` holding its labels, feature,
window and decision settings, calibration temperature, version and training
summary. Two digests bind it: ``model_sha256`` (the model's bytes) and
``binding_sha256`` (the bytes and the metadata together), so neither the model
nor its metadata can be edited alone. ONNX files also hold the JSON inside their
``metadata_props`` (key ``ser_edge``), bound the same way to the rest of the
file's bytes. Metadata is size- and depth-limited and checked field by field
(``ser_edge.checks``) before anything uses it; the loader refuses a model whose
metadata is missing, malformed, edited or bound to other bytes.
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

from ser_edge import checks
from ser_edge.decision import DecisionSpec
from ser_edge.features import FeatureSpec
from ser_edge.windows import WindowSpec

FORMAT_VERSION = 1
METADATA_KEY = "ser_edge"
#: Largest metadata JSON read, and its deepest nesting: a sidecar is a few kilobytes.
MAX_METADATA_BYTES = 1 << 20
MAX_METADATA_DEPTH = 16
_HASH_FIELDS = ("model_sha256", "binding_sha256")
_PLACEHOLDER = "0" * 64


class ModelMetaError(ValueError):
    """A model's metadata is missing, malformed or does not belong to the model file."""


@dataclass(frozen=True)
class ModelMeta:
    """Labels, front end, decision rule and calibration of one trained model."""

    labels: tuple[str, ...]
    features: FeatureSpec
    window: WindowSpec
    decision: DecisionSpec = field(default_factory=DecisionSpec)  # the uncertain rule and stream pacing
    temperature: float = 1.0  # already applied inside the model; recorded for reference
    version: str = "0"
    training: Mapping[str, Any] = field(default_factory=dict)
    model_sha256: str = ""  # bytes of the file this metadata describes ("" before it is bound)
    binding_sha256: str = ""  # those bytes and this metadata together ("" before it is bound)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "labels": list(self.labels),
            "features": self.features.to_dict(),
            "window": self.window.to_dict(),
            "decision": self.decision.to_dict(),
            "temperature": self.temperature,
            "version": self.version,
            "training": dict(self.training),
            "model_sha256": self.model_sha256,
            "binding_sha256": self.binding_sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMeta:
        try:
            if data["format_version"] != FORMAT_VERSION:
                raise ModelMetaError(f"metadata format {data['format_version']} is not {FORMAT_VERSION}")
            labels = data["labels"]
            if not isinstance(labels, list) or not 1 <= len(labels) <= 64 or len(set(map(str, labels))) != len(labels):
                raise ModelMetaError("labels must be a list of 1 to 64 distinct names")
            for i, label in enumerate(labels):
                checks.text(f"labels[{i}]", label, 64)
            sections = {}
            for name, spec in (("features", FeatureSpec), ("window", WindowSpec), ("decision", DecisionSpec)):
                value = data.get(name, {}) if name == "decision" else data[name]  # decision: models converted before it was recorded
                if not isinstance(value, dict):
                    raise ModelMetaError(f"{name} must be an object")
                try:
                    sections[name] = spec.from_dict(value)
                except (TypeError, ValueError) as exc:
                    raise ModelMetaError(f"{name}: {exc}") from None
            checks.number("temperature", data.get("temperature", 1.0), 1e-3, 1e3)
            checks.text("version", data.get("version", "0"), 200)
            if not isinstance(data.get("training", {}), dict):
                raise ModelMetaError("training must be an object")
            for name in _HASH_FIELDS:
                value = data.get(name, "")
                if not isinstance(value, str) or (value and not _is_digest(value)):
                    raise ModelMetaError(f"{name} must be a SHA-256 hex digest")
            return cls(
                labels=tuple(labels),
                **sections,
                temperature=float(data.get("temperature", 1.0)),
                version=data.get("version", "0"),
                training=dict(data.get("training", {})),
                model_sha256=data.get("model_sha256", ""),
                binding_sha256=data.get("binding_sha256", ""),
            )
        except ModelMetaError:
            raise
        except KeyError as exc:
            raise ModelMetaError(f"metadata lacks the field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ModelMetaError(f"metadata is malformed: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def digest_of(self, model_bytes: bytes) -> str:
        """The binding of this metadata (its hash fields aside) to ``model_bytes``."""
        body = {k: v for k, v in self.to_dict().items() if k not in _HASH_FIELDS}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=float).encode("utf-8")
        return hashlib.sha256(model_bytes + b"\n" + canonical).hexdigest()

    def bound_to(self, model_bytes: bytes) -> ModelMeta:
        """A copy bound to ``model_bytes``: their SHA-256, and the binding of bytes and metadata together."""
        return dataclasses.replace(self, model_sha256=hashlib.sha256(model_bytes).hexdigest(), binding_sha256=self.digest_of(model_bytes))

    def check_bound(self, model_bytes: bytes, where: str) -> None:
        """ModelMetaError unless this metadata was bound to ``model_bytes`` and has not been edited since."""
        actual = hashlib.sha256(model_bytes).hexdigest()
        if self.model_sha256 != actual:
            raise ModelMetaError(f"{where} belongs to other model bytes (sha256 {self.model_sha256[:12] or 'missing'} != {actual[:12]}); re-run ser-convert")
        if self.binding_sha256 != self.digest_of(model_bytes):
            raise ModelMetaError(f"{where} was edited after conversion (its binding digest does not match); re-run ser-convert")


def _is_digest(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


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
    bound = meta.bound_to(Path(model_path).read_bytes())
    write_text_atomic(sidecar_path(model_path), bound.to_json() + "\n")
    return bound


def parse_meta_json(text: str | bytes, source: str) -> ModelMeta:
    """Parse metadata JSON (bounded in size and depth, checked field by field), naming ``source`` in any error."""
    if len(text) > MAX_METADATA_BYTES:
        raise ModelMetaError(f"{source}: metadata is {len(text)} bytes, more than the {MAX_METADATA_BYTES} allowed")
    try:
        data = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except UnicodeDecodeError:
        raise ModelMetaError(f"{source}: metadata is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ModelMetaError(f"{source}: metadata is not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise ModelMetaError(f"{source}: metadata is nested too deeply") from None
    if not isinstance(data, dict):
        raise ModelMetaError(f"{source}: metadata must be a JSON object")
    if _depth(data) > MAX_METADATA_DEPTH:
        raise ModelMetaError(f"{source}: metadata is nested more than {MAX_METADATA_DEPTH} levels deep")
    try:
        return ModelMeta.from_dict(data)
    except ModelMetaError as exc:
        raise ModelMetaError(f"{source}: {exc}") from None


def read_sidecar(model_path: str | os.PathLike, model_bytes: bytes | None = None) -> ModelMeta:
    """Read a model's sidecar and check it is bound to the model's bytes (read here unless given); ModelMetaError if not."""
    side = sidecar_path(model_path)
    if not side.is_file():
        raise ModelMetaError(f"{model_path}: no metadata file {side.name} beside the model")
    with open(side, "rb") as f:
        raw = f.read(MAX_METADATA_BYTES + 1)
    meta = parse_meta_json(raw, str(side))
    meta.check_bound(Path(model_path).read_bytes() if model_bytes is None else model_bytes, f"{model_path}: metadata {side.name}")
    return meta


def embed_span(model_bytes: bytes) -> tuple[int, int] | None:
    """[start, end) of the ``ser_edge`` metadata JSON inside serialised ONNX bytes, found without an ONNX parser.

    The entry is a protobuf ``StringStringEntryProto``: tag 1 + length + the key,
    then tag 2 + a varint length + the value. The key's bytes (with their
    control-character tags) cannot occur inside JSON text. None if absent;
    ModelMetaError if it occurs twice or runs past the end.
    """
    marker = b"\x0a" + bytes([len(METADATA_KEY)]) + METADATA_KEY.encode() + b"\x12"
    first = model_bytes.find(marker)
    if first < 0:
        return None
    if model_bytes.find(marker, first + 1) >= 0:
        raise ModelMetaError(f"more than one {METADATA_KEY!r} metadata entry")
    position, length, shift = first + len(marker), 0, 0
    while position < len(model_bytes) and shift < 35:
        byte = model_bytes[position]
        length |= (byte & 0x7F) << shift
        position += 1
        shift += 7
        if not byte & 0x80:
            break
    if position + length > len(model_bytes) or length > MAX_METADATA_BYTES:
        raise ModelMetaError(f"the {METADATA_KEY!r} metadata entry runs past the end of the file")
    return position, position + length


def embedded_meta(model_bytes: bytes, where: str) -> ModelMeta | None:
    """The metadata embedded in ONNX bytes, checked to be bound to the rest of them; None if there is none."""
    span = embed_span(model_bytes)
    if span is None:
        return None
    meta = parse_meta_json(model_bytes[span[0] : span[1]], f"{where} (embedded metadata)")
    rest = model_bytes[: span[0]] + model_bytes[span[1] :]
    if meta.binding_sha256 != meta.digest_of(rest):
        raise ModelMetaError(f"{where}: embedded metadata was edited after conversion (its binding digest does not match); re-run ser-convert")
    return meta


def embed_json(meta: ModelMeta) -> str:
    """The JSON to embed in an ONNX file before it is bound: hash fields empty but the binding's placeholder."""
    return dataclasses.replace(meta, model_sha256="", binding_sha256=_PLACEHOLDER).to_json()


def bind_embedded(model_bytes: bytes) -> bytes:
    """ONNX bytes holding ``embed_json`` output, with the placeholder replaced by the binding to the rest of the bytes."""
    span = embed_span(model_bytes)
    if span is None:
        raise ModelMetaError(f"no {METADATA_KEY!r} metadata entry to bind")
    text = model_bytes[span[0] : span[1]]
    meta = parse_meta_json(text, "embedded metadata")
    digest = meta.digest_of(model_bytes[: span[0]] + model_bytes[span[1] :])
    bound = text.replace(_PLACEHOLDER.encode(), digest.encode(), 1)
    return model_bytes[: span[0]] + bound + model_bytes[span[1] :]
