#!/usr/bin/env bash
# Prepares an arm64 run of the agent under user-mode emulation on an x86-64 Debian host, for
# test/integration/deploy-arm64-smoke.test.ts:
#
#   DIR/sysroot   Debian 13's arm64 Node.js 20 and the libraries it needs (apt-get download with a
#                 private apt configuration: the host's apt state is not touched)
#   DIR/app       package.json + lockfile with the production dependencies npm selects for
#                 linux/arm64/glibc: onnxruntime-node's own arm64 binary, @img/sharp-linux-arm64,
#                 better-sqlite3 cross-compiled with aarch64-linux-gnu-g++ from its bundled SQLite
#   DIR/fakecpu   /proc/cpuinfo and /sys/devices/system/cpu of a 2-core Cortex-A72 (see below)
#
#   sudo test/deploy/arm64/prepare.sh [DIR]      (default DIR: /var/tmp/edge-agent-arm64)
#
# Needs root (apt-get install, and the test's mount namespace), deb.debian.org and the npm registry.
# Why the fake CPU tree: qemu-user passes the host's /proc/cpuinfo and /sys/devices/system/cpu
# through, and onnxruntime's cpuinfo library, finding x86 data where it expects ARM's, dereferences
# NULL while loading. The test bind-mounts these files in a private mount namespace.
set -euo pipefail

dir=${1:-/var/tmp/edge-agent-arm64}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
suite=${DEBIAN_ARM64_SUITE:-trixie}
[ "$(id -u)" -eq 0 ] || { echo "prepare.sh: run as root" >&2; exit 1; }
mkdir -p "$dir"
rm -f "$dir/ready"

need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi

# 1. arm64 Node.js with every library it links, from Debian, unpacked (not installed).
apt_dir="$dir/apt"
mkdir -p "$apt_dir"/{lists/partial,archives/partial,cache,etc/sources.list.d,etc/preferences.d,etc/apt.conf.d}
: > "$apt_dir/status"
echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" > "$apt_dir/etc/sources.list"
cat > "$apt_dir/apt.conf" <<EOF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Install-Recommends "false";
Dir::State "$apt_dir";
Dir::State::Lists "$apt_dir/lists";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir/cache";
Dir::Cache::archives "$apt_dir/archives";
Dir::Etc::SourceList "$apt_dir/etc/sources.list";
Dir::Etc::SourceParts "$apt_dir/etc/sources.list.d";
Dir::Etc::Preferences "$apt_dir/etc/preferences";
Dir::Etc::PreferencesParts "$apt_dir/etc/preferences.d";
Dir::Etc::Parts "$apt_dir/etc/apt.conf.d";
EOF
APT_CONFIG="$apt_dir/apt.conf" apt-get update
APT_CONFIG="$apt_dir/apt.conf" apt-get install -y --download-only nodejs
rm -rf "$dir/sysroot"
mkdir -p "$dir/sysroot"
for deb in "$apt_dir"/archives/*.deb; do dpkg-deb -x "$deb" "$dir/sysroot"; done
# Debian 13 is merged-/usr: the loader is looked up as /lib/ld-linux-aarch64.so.1.
ln -sfn usr/lib "$dir/sysroot/lib"
ln -sfn usr/bin "$dir/sysroot/bin"
arm_node_major=$(qemu-aarch64-static -L "$dir/sysroot" "$dir/sysroot/usr/bin/node" -p 'process.versions.node.split(".")[0]')

# 2. The production dependency tree for linux/arm64, native modules included.
rm -rf "$dir/app"
mkdir -p "$dir/app"
cp "$repo/package.json" "$repo/package-lock.json" "$repo/.npmrc" "$dir/app/"
(cd "$dir/app" && npm ci --omit=dev --cpu=arm64 --os=linux --libc=glibc --ignore-scripts --no-audit --no-fund)
# better-sqlite3 uses the V8 API: its headers must be of the same Node.js major as the arm64 node.
headers=${NODE_HEADERS_DIR:-/usr}
host_major=$(node -p 'process.versions.node.split(".")[0]')
[ -f "$headers/include/node/node.h" ] && [ "$host_major" = "$arm_node_major" ] || {
  echo "prepare.sh: need Node.js $arm_node_major headers in $headers/include/node (NODE_HEADERS_DIR)" >&2; exit 1; }
gyp=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js
(cd "$dir/app/node_modules/better-sqlite3" &&
  CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
  node "$gyp" rebuild --release --arch=arm64 --nodedir="$headers" -j 2 &&
  rm -rf build/Release/obj.target build/Release/.deps build/Release/test_extension.node)

# 3. A Raspberry Pi 4's CPU as onnxruntime's cpuinfo expects to read it.
rm -rf "$dir/fakecpu"
mkdir -p "$dir/fakecpu/sys"
for i in 0 1; do
  printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$i"
done > "$dir/fakecpu/cpuinfo"
echo 1 > "$dir/fakecpu/sys/kernel_max"
for f in possible present online; do echo 0-1 > "$dir/fakecpu/sys/$f"; done
for i in 0 1; do
  mkdir -p "$dir/fakecpu/sys/cpu$i/topology"
  echo 0 > "$dir/fakecpu/sys/cpu$i/topology/physical_package_id"
  echo "$i" > "$dir/fakecpu/sys/cpu$i/topology/core_id"
  echo 0-1 > "$dir/fakecpu/sys/cpu$i/topology/cluster_cpus_list"
  echo 0-1 > "$dir/fakecpu/sys/cpu$i/topology/core_siblings_list"
  echo "$i" > "$dir/fakecpu/sys/cpu$i/topology/thread_siblings_list"
done

echo "node $(qemu-aarch64-static -L "$dir/sysroot" "$dir/sysroot/usr/bin/node" --version) linux/arm64 from Debian $suite, prepared $(date -u +%FT%TZ)" > "$dir/ready"
echo "prepare.sh: ready in $dir"
