"""Reading audio files for the device: any WAV/FLAC/OGG in, float32 mono at the model's rate out.

soundfile (libsndfile) decodes, channels are averaged to mono, and soxr's HQ
streaming resampler (band-limited, ~-140 dB stop band) converts the rate.
``read_audio`` is the concatenation of ``iter_blocks``, so a whole clip and an
hour-long file read block by block go through exactly the same code. Every
failure is an ``AudioError`` naming the file and a plain reason; libsndfile's
own exceptions never escape.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import soundfile as sf

from ser_edge.features import as_float_signal
from ser_edge.native import native_stderr_silenced

#: File signatures of containers libsndfile reads: a file that starts like one but fails to open is damaged.
_MAGIC = {b"RIFF": "WAV", b"RIFX": "WAV", b"RF64": "WAV", b"FORM": "AIFF", b"fLaC": "FLAC", b"OggS": "Ogg"}
#: libsndfile's log line for a data chunk whose declared size runs past the end of the file.
_SHORT_DATA = re.compile(r"^(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
#: Plausible headers: sample rates, channels, and the fewest bytes a second of any codec takes (silence in FLAC is ~80).
MIN_RATE, MAX_RATE = 1000, 384000
MAX_CHANNELS = 32
MIN_BYTES_PER_S = 8
#: Declared data sizes that mean "length unknown" (unfinished streaming writers), not truncation.
_UNKNOWN_SIZES = {0, 0xFFFFFFFF}


class AudioError(Exception):
    """A file that cannot be turned into samples; ``str()`` is ``"<path>: <reason>"``."""

    kind = "unreadable"

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(os.fspath(path), reason)
        self.path = os.fspath(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class AudioNotFound(AudioError):
    """No file at the path."""

    kind = "not_found"


class AudioIsDirectory(AudioError):
    """The path is a directory."""

    kind = "is_directory"


class AudioPermissionDenied(AudioError):
    """The file exists but may not be read."""

    kind = "permission_denied"


class AudioEmpty(AudioError):
    """The file has 0 bytes."""

    kind = "empty"


class AudioUnsupported(AudioError):
    """Not audio, or a format libsndfile does not read."""

    kind = "unsupported"


class AudioCorrupt(AudioError):
    """An audio file with a damaged header or truncated / undecodable data."""

    kind = "corrupt"


class AudioNoSamples(AudioError):
    """A valid audio file holding zero frames."""

    kind = "no_samples"


class AudioNonFinite(AudioError):
    """A float file containing NaN or infinite samples."""

    kind = "non_finite"


class AudioImplausible(AudioError):
    """A header whose claims no real recording makes: its rate, channel count, or a duration the file's size cannot hold."""

    kind = "implausible"


class AudioTooShort(AudioError):
    """Shorter than the caller's ``min_duration_s``."""

    kind = "too_short"


@dataclass(frozen=True, eq=False)
class Audio:
    """A decoded clip: float32 mono samples at ``sample_rate`` plus what the file was."""

    samples: np.ndarray
    sample_rate: int
    source_rate: int
    duration_s: float  # of the file (frames / source_rate)
    channels: int  # in the file, before downmixing


class Resampler:
    """Streaming band-limited rate converter (soxr HQ) for file blocks and live input; identity when rates match."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = None
        if in_rate != out_rate:
            import soxr  # only when a rate is converted

            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")

    def push(self, block: np.ndarray) -> np.ndarray:
        """Resample a float 1-D block; returns whatever output is ready (possibly empty, delayed by the filter)."""
        x = np.asarray(block)
        if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"Resampler takes mono 1-D float blocks, got {x.dtype} of shape {x.shape}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        return x if self._stream is None else self._stream.resample_chunk(x)

    def flush(self) -> np.ndarray:
        """End of stream: return the filter's remaining output and reset for a new stream."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream.clear()
        return tail


def is_silent(samples: np.ndarray, threshold_dbfs: float = -60.0) -> bool:
    """True when the peak level is below ``threshold_dbfs`` (peak, so one loud sound anywhere makes it not silent)."""
    x = np.asarray(samples)
    if x.size == 0:
        return True
    peak = max(float(x.max()), -float(x.min()))  # no temporary the size of the signal
    return peak < 10.0 ** (threshold_dbfs / 20.0)


def signal_blocks(signal: np.ndarray, *, source_rate: int, sample_rate: int, block_seconds: float = 1.0) -> Iterator[np.ndarray]:
    """Samples in memory as float32 mono blocks at ``sample_rate``, as ``iter_blocks`` gives a file's.

    A 2-D array is (samples, channels), as soundfile returns it, or (channels,
    samples), as librosa does: the shorter axis is taken for the channels.
    Integer PCM is scaled to [-1, 1). ValueError names what is wrong.
    """
    if isinstance(source_rate, bool) or not isinstance(source_rate, (int, np.integer)) or not MIN_RATE <= source_rate <= MAX_RATE:
        raise ValueError(f"sample_rate must be an integer from {MIN_RATE} to {MAX_RATE} Hz, got {source_rate!r}")
    x = np.asarray(signal)
    if x.ndim not in (1, 2) or x.size == 0:
        raise ValueError(f"signal must be a non-empty 1-D or 2-D array, got shape {x.shape}")
    if x.ndim == 2:
        x = as_float_signal(x.reshape(-1)).reshape(x.shape).mean(axis=int(np.argmin(x.shape)), dtype=np.float32)
    x = as_float_signal(x)
    resampler = Resampler(int(source_rate), sample_rate)
    step = max(1, round(block_seconds * source_rate))
    for start in range(0, x.size, step):
        out = resampler.push(x[start : start + step])
        if out.size:
            yield out
    tail = resampler.flush()
    if tail.size:
        yield tail


def iter_blocks(path: str | os.PathLike[str], sample_rate: int = 16000, block_seconds: float = 1.0) -> Iterator[np.ndarray]:
    """Non-empty float32 mono blocks at ``sample_rate``, reading ~``block_seconds`` of the file at a time.

    The file is opened and checked now (so open errors raise here); decode errors
    raise while iterating. Memory stays flat however long the file is.
    """
    if block_seconds <= 0:
        raise ValueError("block_seconds must be positive")
    return _decode(_open(path), os.fspath(path), sample_rate, block_seconds)


def opened_blocks(
    open_file: Callable[[], contextlib.AbstractContextManager[BinaryIO]], name: str, sample_rate: int = 16000, block_seconds: float = 1.0
) -> Iterator[np.ndarray]:
    """``iter_blocks`` of a seekable binary file that ``open_file`` opens (a URL through fsspec): the same checks and errors, named ``name``.

    The file is opened on the first block and closed when the blocks end or the generator is closed.
    """
    if block_seconds <= 0:
        raise ValueError("block_seconds must be positive")
    with contextlib.ExitStack() as stack:
        with _os_errors_named(name):
            file = stack.enter_context(open_file())
            size = file.seek(0, os.SEEK_END)
            file.seek(0)
            head = file.read(4)
            file.seek(0)
        if size == 0:
            raise AudioEmpty(name, "empty file (0 bytes)")
        yield from _decode(_soundfile(file, name, head, size), name, sample_rate, block_seconds)


@contextlib.contextmanager
def _os_errors_named(name: str) -> Iterator[None]:
    """The OSErrors of opening and reading a file as the AudioErrors naming it."""
    try:
        yield
    except FileNotFoundError:
        raise AudioNotFound(name, "no such file") from None
    except PermissionError:
        raise AudioPermissionDenied(name, "permission denied") from None
    except IsADirectoryError:
        raise AudioIsDirectory(name, "is a directory") from None
    except OSError as e:
        raise AudioError(name, e.strerror or str(e)) from None


def read_audio(path: str | os.PathLike[str], sample_rate: int = 16000, min_duration_s: float = 0.0) -> Audio:
    """Whole file as float32 mono at ``sample_rate``; ``AudioTooShort`` if under ``min_duration_s``."""
    f = _open(path)
    blocks = list(_decode(f, os.fspath(path), sample_rate, block_seconds=4.0))  # any size gives the same samples
    audio = Audio(
        samples=np.concatenate([np.zeros(0, dtype=np.float32), *blocks]),
        sample_rate=sample_rate,
        source_rate=f.samplerate,
        duration_s=f.frames / f.samplerate,
        channels=f.channels,
    )
    if audio.duration_s < min_duration_s:
        raise AudioTooShort(path, f"too short ({audio.duration_s:.3f} s < {min_duration_s:g} s)")
    return audio


def _open(path: str | os.PathLike[str]) -> sf.SoundFile:
    """Open with soundfile after checking the path, mapping every failure to an AudioError."""
    p = os.fspath(path)
    with _os_errors_named(p):
        st = os.stat(p)
        if stat.S_ISDIR(st.st_mode):
            raise AudioIsDirectory(p, "is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise AudioUnsupported(p, "not a regular file")
        if st.st_size == 0:
            raise AudioEmpty(p, "empty file (0 bytes)")
        with open(p, "rb") as fh:
            head = fh.read(4)
    return _soundfile(os.fsencode(p), p, head, st.st_size)  # bytes: a name that is not UTF-8 opens too


def _soundfile(source: bytes | BinaryIO, name: str, head: bytes, size: int) -> sf.SoundFile:
    """Open a file name or file object of ``size`` bytes starting with ``head`` with soundfile, mapping its failures to AudioErrors."""
    try:
        with native_stderr_silenced():  # libmpg123 prints resync notes for files it then rejects or reads fine
            f = sf.SoundFile(source)
    except sf.SoundFileError as e:
        detail = _libsndfile_message(e)
        container = _MAGIC.get(head)
        if container:
            raise AudioCorrupt(name, f"damaged or truncated {container} file ({detail})") from None
        raise AudioUnsupported(name, f"not audio or an unsupported format ({detail})") from None
    _check_opened(f, name, size)
    return f


def _check_opened(f: sf.SoundFile, path: str, size: int) -> None:
    """Reject an opened file whose header is implausible, declares more data than it holds, or holds no frames; closes it if so."""
    problem = _implausible(f, size)
    if problem:
        f.close()
        raise AudioImplausible(path, problem)
    for declared, actual in _SHORT_DATA.findall(f.extra_info):
        if int(declared) > int(actual) and int(declared) not in _UNKNOWN_SIZES:
            f.close()
            raise AudioCorrupt(path, f"truncated: header declares {declared} data bytes, file holds {actual}")
    if f.frames == 0:
        f.close()
        raise AudioNoSamples(path, "no samples (0 frames)")


def _implausible(f: sf.SoundFile, size: int) -> str | None:
    """Why a header cannot describe a real recording (checked before anything is decoded), or None."""
    if not MIN_RATE <= f.samplerate <= MAX_RATE:
        return f"implausible header: sample rate {f.samplerate} Hz (a recording has {MIN_RATE} Hz to {MAX_RATE} Hz)"
    if f.channels > MAX_CHANNELS:
        return f"implausible header: {f.channels} channels (at most {MAX_CHANNELS} are read)"
    claimed_s = f.frames / f.samplerate
    if claimed_s * MIN_BYTES_PER_S > size:
        return f"implausible header: {claimed_s:.0f} s of audio claimed by a file of {size} bytes"
    return None


def _decode(f: sf.SoundFile, path: str, sample_rate: int, block_seconds: float) -> Iterator[np.ndarray]:
    """Read, validate, downmix and resample an open file block by block; closes it at the end."""
    with f:
        resampler = Resampler(f.samplerate, sample_rate)
        quiet = native_stderr_silenced if f.format == "MP3" else contextlib.nullcontext  # only libmpg123 writes to stderr
        block_frames = max(1, round(block_seconds * f.samplerate))
        frames_read = 0
        while frames_read < f.frames:  # the declared length: no last, empty read to find the end
            try:
                with quiet():
                    raw = f.read(min(block_frames, f.frames - frames_read), dtype="float32", always_2d=True)
            except sf.SoundFileError as e:
                reason = f"corrupt data after {frames_read} frames ({_libsndfile_message(e)})"
                raise AudioCorrupt(path, reason) from None
            if raw.shape[0] == 0:
                break
            if not (math.isfinite(raw.max()) and math.isfinite(raw.min())):  # NaN and inf show in either; no temporary
                span = f"{frames_read}..{frames_read + raw.shape[0]}"
                raise AudioNonFinite(path, f"NaN or infinite samples in frames {span}")
            frames_read += raw.shape[0]
            out = resampler.push(raw[:, 0] if raw.shape[1] == 1 else raw.mean(axis=1, dtype=np.float32))
            if out.size:
                yield out
        if frames_read < f.frames:
            raise AudioCorrupt(path, f"truncated: {frames_read} of {f.frames} frames readable")
        tail = resampler.flush()
        if tail.size:
            yield tail


def _libsndfile_message(error: Exception) -> str:
    """libsndfile's reason without soundfile's "Error opening '<path>': " prefix."""
    text = str(getattr(error, "error_string", "") or error).strip().removeprefix("Error : ").rstrip(".")
    if "does not exist or is not a regular file" in text:  # said of any file it cannot identify; this one exists
        text = "it recognises no audio format in the file"
    return "libsndfile: " + text
