#!/usr/bin/env bash
# `npm run setup`: build and install everything the test tiers need, before any of them runs and
# outside any timeout. Tests never build or download: they check and fail at once naming this
# command.
#
#   Debian packages   openssl util-linux coreutils (control-plane PKI, locks, hashes)
#                     kcat iptables iproute2 openjdk-17-jre-headless maven (real-Kafka lab)
#                     installed with apt-get when missing: needs root
#   control plane     kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd,
#                     kwok, helm 3 and helm 4, built from Go modules (test/e2e/build-binaries.sh):
#                     needs the Go toolchain (>= 1.26) and the Go module proxy
#   Kafka             broker, ZooKeeper and tools jars from Maven Central (test/kafka/install.sh)
#   image base        localhost/node:24-bookworm-slim for `npm run test:image`, made without a
#                     registry from a Debian rootfs (mmdebstrap) and the npm `node` package's
#                     binary (test/image/base.sh); kept in buildah's storage, stamped with the
#                     Node version. Debian packages buildah crun mmdebstrap.
#
# Everything goes to ${KNI_CACHE_DIR:-~/.cache/kafka-nodeport-injector}, keyed by every input
# (tool versions, build recipe, Go version); an entry is renamed into place only when complete.
# One line per item: what, version, cached or built, seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

T_ALL=$(now)

# ---- Debian packages: command -> package ----
declare -A PACKAGE_OF=(
  [openssl]=openssl [flock]=util-linux [unshare]=util-linux [sha256sum]=coreutils
  [kcat]=kcat [iptables]=iptables [ip]=iproute2 [java]=openjdk-17-jre-headless [mvn]=maven
  [buildah]=buildah [crun]=crun [mmdebstrap]=mmdebstrap
)
t=$(now)
missing=()
for cmd in "${!PACKAGE_OF[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGE_OF[$cmd]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "Debian packages: present ($(elapsed "$t")s)"
else
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  [ "$(id -u)" = 0 ] || { log "ERROR: missing Debian packages ${missing[*]}; apt-get needs root"; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp)
  # apt's own output only when it fails: one line per item otherwise.
  if ! { apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; } >"$apt_log" 2>&1; then
    cat "$apt_log" >&2
    log "ERROR: apt-get install ${missing[*]} failed"
    exit 1
  fi
  rm -f "$apt_log"
  log "Debian packages ${missing[*]}: installed ($(elapsed "$t")s)"
fi

# ---- control plane and helm (each tool logs its own line) ----
t=$(now)
bash test/e2e/build-binaries.sh >/dev/null
log "control plane and helm: ready ($(elapsed "$t")s)"

# ---- Kafka jars ----
t=$(now)
bash test/kafka/install.sh >/dev/null
log "Kafka jars: ready ($(elapsed "$t")s)"

# ---- the image's base (test/image/base.sh logs its own line) ----
bash test/image/base.sh

log "all set up in $(elapsed "$T_ALL")s"
