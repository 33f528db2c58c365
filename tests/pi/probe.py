"""Describe the side this runs on (host or emulated Pi) as one JSON object on stdout.

Usage: python probe.py MODEL...

machine, the arm64 CPU features the (emulated) kernel reports, the versions of
the core packages, and per model whether LiteRT's default op resolver engaged
XNNPACK. compare.py checks that both sides agree: the same packages, and the
same kernels (XNNPACK's int8 kernels and LiteRT's built-in ones may differ by
one quantisation step, so a side that silently lost XNNPACK is not comparable).
"""

from __future__ import annotations

import json
import os
import platform
import struct
import sys
from importlib.metadata import version

PACKAGES = ("ser-edge", "numpy", "ai-edge-litert", "soundfile", "soxr", "click")
AT_HWCAP = 16
# arm64 Linux HWCAP bits in order (arch/arm64/include/uapi/asm/hwcap.h), as far as a Pi 4 check needs.
HWCAP_NAMES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop "
    "sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg"
).split()


def hwcap() -> list[str] | None:
    """CPU feature names from the auxiliary vector (under qemu: those of the emulated CPU); None off arm64."""
    if platform.machine() != "aarch64":
        return None
    with open("/proc/self/auxv", "rb") as f:
        bits = dict(struct.iter_unpack("<QQ", f.read())).get(AT_HWCAP, 0)
    return [HWCAP_NAMES[i] if i < len(HWCAP_NAMES) else f"bit{i}" for i in range(64) if bits >> i & 1]


def delegated(model: str) -> bool:
    """Whether LiteRT, loading the model as ser-edge does (default op resolver), hands it to its default
    delegate, XNNPACK: the interpreter then has an extra node named DELEGATE."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=model, num_threads=1)
    interpreter.allocate_tensors()
    nodes = interpreter._interpreter  # the C++ interpreter: the Python API does not list nodes
    return "DELEGATE" in (nodes.NodeName(i) for i in range(nodes.NumNodes()))


def main() -> None:
    print(
        json.dumps(
            {
                "machine": platform.machine(),
                "hwcap": hwcap(),
                "versions": {p: version(p) for p in PACKAGES},
                "xnnpack": {os.path.basename(m): delegated(m) for m in sys.argv[1:]},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
