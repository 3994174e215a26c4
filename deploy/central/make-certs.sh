#!/usr/bin/env bash
# Makes the fleet's certificates with openssl: a CA, the broker's, central services' and
# devices'. Idempotent: what exists is kept (the CA above all), what is missing is made, so
# the same command with one more --device adds that device.
#
#   deploy/central/make-certs.sh --out DIR --broker-host NAME [--broker-host NAME ...]
#                                [--device ID ...] [--days 825] [--ca-days 3650]
#
#   DIR/ca.crt, ca.key              the fleet CA (keep ca.key offline once the fleet is enrolled)
#   DIR/broker.crt, broker.key      CN and subjectAltName: every --broker-host (a name or an IP
#                                   address), plus "mosquitto", the name compose.yaml's services use
#   DIR/edgectl-central.crt, .key   central services (ingest, rollout, publish, fleet): the ACL's
#                                   edgectl-central user
#   DIR/devices/ID.crt, ID.key      one per gateway, CN = its deviceId (the ACL keeps it in its topics)
#
# Keys are P-256 EC keys, mode 0600.
set -euo pipefail

out=""
days=825
ca_days=3650
broker_hosts=()
devices=()

die() { echo "make-certs.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    --broker-host) [ $# -ge 2 ] || die "--broker-host needs a name"; broker_hosts+=("$2"); shift 2 ;;
    --device) [ $# -ge 2 ] || die "--device needs an id"; devices+=("$2"); shift 2 ;;
    --days) [ $# -ge 2 ] || die "--days needs a number"; days=$2; shift 2 ;;
    --ca-days) [ $# -ge 2 ] || die "--ca-days needs a number"; ca_days=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument \"$1\" (see --help)" ;;
  esac
done
[ -n "$out" ] || die "--out DIR is required"
[ ${#broker_hosts[@]} -gt 0 ] || die "--broker-host NAME is required (the name gateways use to reach the broker)"
[[ "$days" =~ ^[0-9]+$ && "$ca_days" =~ ^[0-9]+$ ]] || die "--days and --ca-days must be whole numbers of days"
for id in "${devices[@]}"; do
  # The device id is one MQTT topic level and the ACL's user name (agent/config/schema.ts: deviceId).
  [[ "$id" =~ ^[A-Za-z0-9._-]+$ ]] || die "device id \"$id\" must be letters, digits, . _ - (one MQTT topic level)"
done
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"

umask 077
mkdir -p "$out/devices"
cd "$out"

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 0600 "$1"; }

# sign NAME CN EXTENSIONS: NAME.key (kept if present) and NAME.crt signed by the CA.
sign() {
  local name=$1 cn=$2 ext=$3
  [ -f "$name.crt" ] && return 0
  [ -f "$name.key" ] || newkey "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  printf '%s\n' "$ext" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" -sha256 \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  chmod 0644 "$name.crt"
  echo "made $out/$name.crt (CN=$cn)"
}

if [ ! -f ca.crt ]; then
  [ -f ca.key ] || newkey ca.key
  openssl req -x509 -new -key ca.key -subj "/CN=edge-fleet-ca" -days "$ca_days" -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt
  chmod 0644 ca.crt
  echo "made $out/ca.crt"
fi

san=""
for h in "${broker_hosts[@]}" mosquitto; do
  if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then san+="IP:$h,"; else san+="DNS:$h,"; fi
done
leaf="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment"
sign broker "${broker_hosts[0]}" "$leaf
extendedKeyUsage=serverAuth
subjectAltName=${san%,}"
sign edgectl-central edgectl-central "$leaf
extendedKeyUsage=clientAuth"
for id in "${devices[@]}"; do
  sign "devices/$id" "$id" "$leaf
extendedKeyUsage=clientAuth"
done
