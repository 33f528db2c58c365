"""Compare what ser-edge printed on the host with what it printed on the emulated Pi.

Usage: python compare.py HOST_DIR PI_DIR

Each side's folder holds probe.json (see probe.py) and one folder per model
with the outputs of tests/pi/commands.sh. Outputs of a model whose file name
contains "int8" must be identical (the same int8 arithmetic on both CPUs);
those of any other (float) model may differ by at most 1e-5 per number. Both
allowances are on top of the resolution the numbers were printed at (a true
difference of 1e-7 can print as 0.8639 against 0.8638). Labels and every other
string must be equal. Prints one line per output file, then
every difference; exits 1 on any difference.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

FLOAT_ATOL = 1e-5
# LiteRT's optimised int8 kernels on aarch64 can round an intermediate value one step apart from its
# x86 (and reference) kernels (README.md, "Known difference"): int8 probabilities must agree to within
# one output quantisation step, labels exactly. Most outputs are bit-identical; the report shows the max.
INT8_STEP = 1 / 256  # the quantisation step of an int8 softmax output
INT8_ATOL = INT8_STEP
IGNORED_KEYS = {"wall_seconds"}  # timings: emulated ones mean nothing
# Features qemu's cortex-a72 model reports (a Pi 4's BCM2711 lacks aes, pmull, sha1, sha2; nothing
# ser-edge runs uses them). More than this means qemu emulated a newer CPU, e.g. its default "max".
CORTEX_A72 = {"fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "cpuid"}


def records(path: Path) -> list[Any]:
    """A result file as a list of records: CSV rows (numbers parsed) or JSON lines."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(text.splitlines())]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def differences(host: Any, pi: Any, atol: float, where: str) -> Iterator[tuple[str, Any, Any, float]]:
    """(where, host value, pi value, |difference|) for every number further apart than atol and every other mismatch."""
    if isinstance(host, dict) and isinstance(pi, dict):
        for key in sorted(host.keys() | pi.keys()):
            if key not in IGNORED_KEYS:
                yield from differences(host.get(key), pi.get(key), atol, f"{where} {key}")
    elif isinstance(host, list) and isinstance(pi, list) and len(host) == len(pi):
        for i, (h, p) in enumerate(zip(host, pi)):
            # A record's path (a clip) or its time says which one it is better than its index.
            name = (h.get("path") or h.get("t_end")) if isinstance(h, dict) else None
            yield from differences(h, p, atol, f"{where} [{name if name is not None else i}]")
    elif _is_number(host) and _is_number(pi):
        if abs(host - pi) > atol + max(printed_resolution(host), printed_resolution(pi)):
            yield where, host, pi, abs(host - pi)
    elif host != pi:
        yield where, host, pi, float("inf")


def printed_resolution(value: float) -> float:
    """One unit in the last printed digit: 1e-4 for 0.8639, 0.1 for -23.4, 1 for 7."""
    exponent = Decimal(repr(value)).as_tuple().exponent
    return 10.0 ** min(0, int(exponent))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def max_difference(host: Any, pi: Any) -> float:
    """The largest difference between two numbers (labels and other strings left out)."""
    return max((d for *_, d in differences(host, pi, -1.0, "") if d != float("inf")), default=0.0)


def check_probes(host: dict, pi: dict) -> list[str]:
    """Problems that make the two sides incomparable, or the emulated one unlike a Pi 4."""
    problems = []
    if pi["machine"] != "aarch64":
        problems.append(f"the emulated side runs as {pi['machine']}, not aarch64")
    extra = set(pi["hwcap"] or ()) - CORTEX_A72
    if extra:
        problems.append(f"emulated CPU has features a Cortex-A72 lacks ({', '.join(sorted(extra))}): is QEMU_CPU=cortex-a72 set?")
    for name in sorted(host["versions"].keys() | pi["versions"].keys()):
        if host["versions"].get(name) != pi["versions"].get(name):
            problems.append(f"{name}: host has {host['versions'].get(name)}, the Pi {pi['versions'].get(name)}")
    for model, engaged in host["xnnpack"].items():
        if pi["xnnpack"].get(model) != engaged:
            problems.append(
                f"{model}: XNNPACK host {_on(engaged)}, Pi {_on(pi['xnnpack'].get(model))}"
                " (did LiteRT's CPU detection fail there? See any 'Error in cpuinfo' lines above)"
            )
    return problems


def _on(flag: bool | None) -> str:
    return "on" if flag else "off"


def main() -> int:
    host_dir, pi_dir = Path(sys.argv[1]), Path(sys.argv[2])
    host_probe, pi_probe = (json.loads((d / "probe.json").read_text()) for d in (host_dir, pi_dir))
    print(f"host: {host_probe['machine']}; Pi: {pi_probe['machine']} with {' '.join(pi_probe['hwcap'] or ())}")
    print("packages: " + ", ".join(f"{k} {v}" for k, v in pi_probe["versions"].items()))
    print("XNNPACK: " + ", ".join(f"{m} {_on(on)}" for m, on in host_probe["xnnpack"].items()))
    problems = check_probes(host_probe, pi_probe)

    outputs = sorted(p.relative_to(host_dir) for p in host_dir.glob("*/*") if p.suffix in (".csv", ".jsonl"))
    if not outputs:
        problems.append(f"no outputs in {host_dir}")
    for rel in outputs:
        atol = INT8_ATOL if "int8" in rel.parts[0] else FLOAT_ATOL
        if not (pi_dir / rel).is_file():
            problems.append(f"{rel}: missing on the Pi")
            continue
        host, pi = records(host_dir / rel), records(pi_dir / rel)
        found = list(differences(host, pi, atol, str(rel)))
        status = "DIFFERENT" if found else "same"
        print(f"{rel}: {len(host)} records, {status} (max |difference| {max_difference(host, pi):.3g}, allowed {atol:g} + print resolution)")
        problems += [f"{where}: host {h!r}, Pi {p!r}" for where, h, p, _ in found]

    for problem in problems:
        print("FAIL " + problem)
    print("host and emulated Pi agree" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
