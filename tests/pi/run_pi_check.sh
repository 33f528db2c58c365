#!/usr/bin/env bash
# Proves that ser-edge's core install runs as aarch64 code on a Raspberry Pi 4's CPU (qemu user mode,
# Cortex-A72) and prints what the host prints: int8 results identical, float ones within 1e-5.
# See tests/pi/README.md. Needs root (apt-get, binfmt_misc, mounts, chroot), a Debian mirror and PyPI.
#
# Environment, all optional:
#   MODELS     .tflite models, each with its .json sidecar [models/ser_cnn.int8.tflite models/ser_cnn.float32.tflite]
#   CLIPS      audio clips [the first 3 of models/examples/]; MODELS and CLIPS are space-separated
#   VENV       the host's ser-edge install to compare with [.venv]
#   PI_ROOT    the Debian bookworm arm64 root, built once and reused [${TMPDIR:-/tmp}/ser-edge-pi-root]
#   PI_MIRROR  Debian mirror for building it [this machine's apt source for bookworm]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
MODELS=${MODELS:-models/ser_cnn.int8.tflite models/ser_cnn.float32.tflite}
CLIPS=${CLIPS:-$(find models/examples -name '*.flac' | sort | head -n 3)}
VENV=${VENV:-$repo/.venv}
PI_ROOT=${PI_ROOT:-${TMPDIR:-/tmp}/ser-edge-pi-root}
SITE=/opt/ser-edge-site  # the core install, where the Pi sees it
CHECK=/check             # inputs and outputs, where the Pi sees them; the host uses $PI_ROOT$CHECK
start=$SECONDS
step() { echo "[pi-check ${1}, $((SECONDS - start)) s]"; }

[ "$(id -u)" = 0 ] || { echo "run_pi_check.sh needs root: apt-get, binfmt_misc, mounts, chroot" >&2; exit 2; }
[ -n "$CLIPS" ] || { echo "no clips: set CLIPS" >&2; exit 2; }
exec 9>"$PI_ROOT.lock" && flock 9  # one check at a time per root

step "tools"
if ! command -v mmdebstrap >/dev/null || ! command -v qemu-aarch64-static >/dev/null || ! command -v update-binfmts >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static binfmt-support mmdebstrap >/dev/null
fi
# Let the kernel hand aarch64 binaries to qemu. Debian registers qemu-aarch64 with the F flag, so the
# interpreter works inside the chroot too. binfmt_misc is not mounted everywhere (VMs without systemd).
[ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null || update-binfmts --enable qemu-aarch64

if [ ! -e "$PI_ROOT/.ser-edge-pi-root" ]; then
  [ ! -e "$PI_ROOT" ] || { echo "$PI_ROOT exists but is not a finished ser-edge Pi root: remove it" >&2; exit 2; }
  mirror=${PI_MIRROR:-$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 'Codename: bookworm' 'Label: Debian' | head -n 1)}
  mirror=${mirror:-http://deb.debian.org/debian}
  step "building the arm64 root $PI_ROOT from $mirror"
  rm -rf "$PI_ROOT.new"
  mmdebstrap --quiet --variant=extract --architectures=arm64 \
    --include=python3.11,libstdc++6,libgcc-s1,ca-certificates,dash,coreutils bookworm "$PI_ROOT.new" "$mirror"
  mkdir -p "$PI_ROOT.new/proc" "$PI_ROOT.new/sys"
  touch "$PI_ROOT.new/.ser-edge-pi-root"
  mv "$PI_ROOT.new" "$PI_ROOT"  # only a complete root is ever reused
fi

step "core install: the ser-edge wheel and the aarch64 wheels it needs"
dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
# Build from a copy of the tracked files: building in the checkout leaves build/ there, and setuptools
# puts its stale contents into later wheels.
mkdir "$dist/src"
git -C "$repo" ls-files -z | (cd "$repo" && tar --null -T - -cf -) | tar -xf - -C "$dist/src"
"$VENV/bin/python" -m pip wheel -q --no-deps -w "$dist" "$dist/src"
rm -rf "${PI_ROOT:?}$SITE"
# What `pip install ser-edge` takes on a Pi (wheels only, no compiler), pinned by constraints.txt like
# the host's install, so that both sides run the same versions (probe.py checks).
"$VENV/bin/python" -m pip install -q --only-binary=:all: --implementation cp --python-version 3.11 \
  --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 \
  --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
  --target "$PI_ROOT$SITE" -c "$repo/constraints.txt" "$dist"/ser_edge-*.whl
# pip --target writes the host's interpreter into console scripts; a Pi's own pip would write its own.
sed -i '1s|^#!.*|#!/usr/bin/python3.11|' "$PI_ROOT$SITE/bin/ser-edge"

step "inputs"
rm -rf "${PI_ROOT:?}$CHECK"
mkdir -p "$PI_ROOT$CHECK/models" "$PI_ROOT$CHECK/clips" "$PI_ROOT$CHECK/host" "$PI_ROOT$CHECK/pi"
for model in $MODELS; do cp "$model" "$model.json" "$PI_ROOT$CHECK/models/"; done
for clip in $CLIPS; do cp "$clip" "$PI_ROOT$CHECK/clips/"; done
cp "$here/commands.sh" "$here/probe.py" "$PI_ROOT$CHECK/"

step "host: $(uname -m)"
(cd "$PI_ROOT$CHECK/host" && "$VENV/bin/python" ../probe.py ../models/*.tflite >probe.json &&
  PATH="$VENV/bin:$PATH" sh ../commands.sh)

# Runs "$@" in the root as on a Pi 4: aarch64 code on an emulated Cortex-A72 (qemu's default "max" CPU
# gives wrong int8 results), with the /proc/cpuinfo and CPU lists in /sys of a Pi 4 for LiteRT's CPU
# detection (qemu passes the host's x86 cpuinfo through, on which LiteRT crashes). The mounts live in a
# private mount namespace: the host's /proc and /sys stay untouched, and the mounts end with the command.
on_pi() {
  unshare --mount --propagation private /bin/bash -euc '
    root=$1 cpuinfo=$2 site=$3
    shift 3
    mount -t proc proc "$root/proc"
    mount --bind "$cpuinfo" "$root/proc/cpuinfo"
    mount -t tmpfs sys "$root/sys"
    mkdir -p "$root/sys/devices/system/cpu"
    for list in possible present online; do echo 0-3 >"$root/sys/devices/system/cpu/$list"; done
    QEMU_CPU=cortex-a72 exec chroot "$root" /usr/bin/env -i QEMU_CPU=cortex-a72 HOME=/root LC_ALL=C.UTF-8 \
      PATH="$site/bin:/usr/bin:/bin" PYTHONPATH="$site" "$@"
  ' on_pi "$PI_ROOT" "$here/cpuinfo" "$SITE" "$@"
}

step "emulated Raspberry Pi 4: aarch64, Cortex-A72"
on_pi /bin/sh -euc "cd $CHECK/pi && python3.11 ../probe.py ../models/*.tflite >probe.json && sh ../commands.sh"

step "compare"
"$VENV/bin/python" "$here/compare.py" "$PI_ROOT$CHECK/host" "$PI_ROOT$CHECK/pi" ||
  { echo "the outputs are in $PI_ROOT$CHECK" >&2; exit 1; }
step "done"
