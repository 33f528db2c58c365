"""Microphone input through PortAudio (``sounddevice``, the ``mic`` extra).

The PortAudio callback only copies the block into a queue; everything else
happens in the reading thread. A device that can't record at the model's rate
is opened at its own default rate and resampled (many USB microphones offer
only 44.1 or 48 kHz).
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ser_edge.audio import Resampler
from ser_edge.stream import Block


class MicrophoneError(RuntimeError):
    """The audio device could not be opened, or stopped delivering audio."""


def _sounddevice():
    try:
        import sounddevice
    except ImportError as exc:  # also raised when the PortAudio library itself is missing
        raise MicrophoneError(
            f"microphone input needs sounddevice and the PortAudio library: pip install 'ser-edge[mic]' and apt-get install libportaudio2 ({exc})"
        ) from None
    return sounddevice


def list_devices() -> list[dict[str, Any]]:
    """Input-capable devices: index, name, channels, default rate; the default one flagged."""
    sd = _sounddevice()
    default_in = sd.default.device[0]
    return [
        {"index": i, "name": d["name"], "channels": d["max_input_channels"], "default_samplerate": d["default_samplerate"], "default": i == default_in}
        for i, d in enumerate(sd.query_devices())
        if d["max_input_channels"] > 0
    ]


def _device_arg(device: str | int | None) -> str | int | None:
    if isinstance(device, str) and device.isdigit():
        return int(device)
    return device


def capture_rate(device: str | int | None, wanted: int) -> int:
    """``wanted`` if the device records at it, else the device's own default rate."""
    sd = _sounddevice()
    try:
        sd.check_input_settings(device=_device_arg(device), samplerate=wanted, channels=1, dtype="float32")
        return wanted
    except Exception:  # PortAudio answers unsupported rates with assorted errors
        try:
            return int(sd.query_devices(_device_arg(device), "input")["default_samplerate"])
        except Exception as exc:
            raise MicrophoneError(f"no usable input device {device!r}: {exc}") from None


@dataclass
class Microphone:
    """A PortAudio input stream yielding ``Block``s at ``sample_rate``; counts overflows."""

    sample_rate: int
    device: str | int | None = None
    block_s: float = 0.1
    timeout_s: float = 5.0  # no audio for this long means the device is gone
    capture_rate: int = 0  # 0: the model's rate if the device offers it, else the device's default rate
    overflows: int = 0
    _queue: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=200))

    def _callback(self, indata, frames, time_info, status) -> None:
        # Copy only; a full queue means the reader fell behind: count it as an overflow.
        try:
            self._queue.put_nowait((indata[:, 0].copy(), bool(status.input_overflow)))
        except queue.Full:
            self.overflows += 1

    def blocks(self) -> Iterator[Block]:
        """Open the stream and yield audio until the caller stops iterating."""
        sd = _sounddevice()
        self.capture_rate = self.capture_rate or capture_rate(self.device, self.sample_rate)
        resampler = Resampler(self.capture_rate, self.sample_rate) if self.capture_rate != self.sample_rate else None
        try:
            stream = sd.InputStream(
                device=_device_arg(self.device),
                channels=1,
                samplerate=self.capture_rate,
                dtype="float32",
                blocksize=int(self.block_s * self.capture_rate),
                callback=self._callback,
            )
        except Exception as exc:
            raise MicrophoneError(f"could not open input device {self.device!r} at {self.capture_rate} Hz: {exc}") from None
        with stream:
            while True:
                try:
                    samples, overflow = self._queue.get(timeout=self.timeout_s)
                except queue.Empty:
                    raise MicrophoneError(f"input device {self.device!r} delivered no audio for {self.timeout_s:.0f} s (unplugged?)") from None
                if overflow:
                    self.overflows += 1
                if resampler is not None:
                    samples = resampler.push(samples)
                yield Block(np.asarray(samples, dtype=np.float32), overflow=overflow)
