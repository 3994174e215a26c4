#!/usr/bin/env bash
# Installs the edge agent on a Debian-based gateway as a systemd service. Idempotent: a
# second run gives the same system (the code is replaced, an operator's config is kept).
#
#   sudo deploy/install.sh [--source DIR] [--root DIR] [--now]
#
#   --source DIR  a built tree: package.json, bin/, dist/, node_modules/ (production), agent/status/page/
#                 (default: the checkout this script is in, after
#                 `npm ci && npm run build && npm prune --omit=dev`)
#   --root DIR    install into DIR as if it were / (an image being prepared, or a test); users
#                 are added to DIR/etc/passwd, the unit is enabled with systemctl --root
#   --now         also start (or restart) the service; only without --root
#
# What it does: the system user and group edge-agent; /opt/edge-agent (the code);
# /etc/edge-agent (edge-agent.yaml from the example when absent, edge-agent.env for secrets,
# pki/ for the broker's CA and this gateway's certificate and key); /var/lib/edge-agent
# (state); /usr/local/bin/edge-agent; the systemd unit, enabled.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_dir=$(dirname "$here")
root=""
start_now=false

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --source) [ $# -ge 2 ] || die "--source needs a directory"; source_dir=$(cd "$2" && pwd); shift 2 ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$(cd "$2" && pwd); shift 2 ;;
    --now) start_now=true; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument \"$1\" (see --help)" ;;
  esac
done
[ "$root" = "/" ] && root=""
[ -n "$root" ] && $start_now && die "--now cannot start a service inside --root $root"
[ "$(id -u)" -eq 0 ] || die "run as root (it adds a system user and writes under ${root:-/})"

# The code must be built: the service runs dist/ with production dependencies only.
for f in package.json bin/edge-agent.js bin/launch.js dist/agent/cli.js node_modules agent/status/page/index.html; do
  [ -e "$source_dir/$f" ] || die "$source_dir/$f is missing: build first (npm ci && npm run build && npm prune --omit=dev)"
done
unit_src="$here/systemd/edge-agent.service"
config_example="$here/edge-agent.example.yaml"
[ -f "$unit_src" ] || die "$unit_src is missing"

# Node.js 20 or newer at the path the unit runs (Debian 13 ships 20; on Debian 12 use NodeSource's).
if [ -z "$root" ]; then
  [ -x /usr/bin/node ] || die "/usr/bin/node not found: install Node.js 20 or newer (apt-get install nodejs on Debian 13)"
  major=$(/usr/bin/node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "Node.js $(/usr/bin/node --version) is too old: 20 or newer is needed"
fi

app="$root/opt/edge-agent"
etc="$root/etc/edge-agent"
state="$root/var/lib/edge-agent"

# 1. The service user: no login, no home of its own beyond the state directory.
if ! grep -q '^edge-agent:' "$root/etc/group"; then
  groupadd ${root:+--prefix "$root"} --system edge-agent
fi
if ! grep -q '^edge-agent:' "$root/etc/passwd"; then
  useradd ${root:+--prefix "$root"} --system --gid edge-agent --home-dir /var/lib/edge-agent --no-create-home \
    --shell /usr/sbin/nologin --comment "edge inference agent" edge-agent
fi
# Numeric ids, read from the (possibly prefixed) files: the host may not know the user.
uid=$(awk -F: '$1 == "edge-agent" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "edge-agent" { print $3 }' "$root/etc/group")
# GPIO and LED access for the status LED, video for USB cameras, when the gateway has such groups.
for group in gpio leds video; do
  if grep -q "^$group:" "$root/etc/group" && ! grep -q "^$group:.*[:,]edge-agent\(,\|$\)" "$root/etc/group"; then
    usermod ${root:+--prefix "$root"} -a -G "$group" edge-agent
  fi
done

# 2. The code, root-owned and read-only to the service: staged, then swapped in whole.
install -d -m 0755 "$root/opt"
rm -rf "$app.new" "$app.old"
install -d -m 0755 "$app.new" "$app.new/agent/status"
cp -R "$source_dir/package.json" "$source_dir/bin" "$source_dir/dist" "$source_dir/node_modules" "$app.new/"
[ -f "$source_dir/package-lock.json" ] && cp "$source_dir/package-lock.json" "$app.new/"
[ -f "$source_dir/README.md" ] && cp "$source_dir/README.md" "$app.new/"
cp -R "$source_dir/agent/status/page" "$app.new/agent/status/"
install -d -m 0755 "$app.new/deploy"
cp -R "$here/edge-agent.example.yaml" "$here/systemd" "$app.new/deploy/"
chown -R 0:0 "$app.new"
chmod -R u+rwX,go+rX,go-w "$app.new"
[ -d "$app" ] && mv "$app" "$app.old"
mv "$app.new" "$app"
rm -rf "$app.old"

install -d -m 0755 "$root/usr/local/bin"
ln -sfn /opt/edge-agent/bin/edge-agent.js "$root/usr/local/bin/edge-agent"

# 3. Config: readable by the service, writable by root only. An existing file is never touched.
install -d -o 0 -g "$gid" -m 0750 "$etc" "$etc/pki"
if [ ! -e "$etc/edge-agent.yaml" ]; then
  install -o 0 -g "$gid" -m 0640 "$config_example" "$etc/edge-agent.yaml"
  echo "install.sh: wrote $etc/edge-agent.yaml from the example: edit it, then check it (edge-agent check-config)"
fi
if [ ! -e "$etc/edge-agent.env" ]; then
  printf '# Secrets as environment overrides, e.g. EDGE_AGENT__BROKER__PASSWORD=...\n' > "$etc/edge-agent.env"
  chown 0:"$gid" "$etc/edge-agent.env"
  chmod 0640 "$etc/edge-agent.env"
fi

# 4. State: the store, model bundles, the OPC-UA PKI, hot folders.
install -d -o "$uid" -g "$gid" -m 0750 "$state" "$state/models" "$state/pki" "$state/inbox"

# 5. The unit, enabled at boot.
install -d -m 0755 "$root/etc/systemd/system"
install -o 0 -g 0 -m 0644 "$unit_src" "$root/etc/systemd/system/edge-agent.service"
if [ -n "$root" ]; then
  systemctl --root="$root" enable edge-agent.service >/dev/null 2>&1 ||
    die "systemctl --root=$root enable edge-agent.service failed"
else
  systemctl daemon-reload
  systemctl enable edge-agent.service
  if $start_now; then systemctl restart edge-agent.service; fi
fi
echo "install.sh: edge-agent installed in ${root:-/} (uid $uid)"
