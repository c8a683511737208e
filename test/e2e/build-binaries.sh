#!/usr/bin/env bash
# Build the control-plane binaries used by the e2e tests (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd, kwok, helm) from Go
# modules through the Go module proxy. No Docker, no download sites.
#
# Idempotent: each tool is built once into
#   ${KNI_CACHE_DIR:-$HOME/.cache/kafka-nodeport-injector}/bin/<tool>-<version>/
# (outside the repository, so a fresh clone on the same machine reuses it) and a
# warm run only checks a stamp file: no `go` invocation, no compile.
#
# stdout: exactly one line, the directory that holds (symlinks to) every binary:
#   BIN_DIR=$(test/e2e/build-binaries.sh)
# stderr: one progress line per tool (what, version, cached or built, seconds).
#
# Options:
#   --check        build nothing: print the directory if every tool is cached and complete,
#                  else exit 3 naming what is missing (what tests call; `npm run setup` builds)
#   --force        rebuild even when the cache is complete
#   --only TOOL    build only TOOL (kubernetes|etcd|kwok|helm|helm4); may be repeated
#   -h|--help
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS_DIR=$HERE/tools
CACHE_DIR=${KNI_CACHE_DIR:-${HOME:-/root}/.cache/kafka-nodeport-injector}
BIN_ROOT=$CACHE_DIR/bin
# Bump when the build recipe (flags, file layout) changes: invalidates the cache.
RECIPE_REV=2

CHECK=0
FORCE=0
ONLY=()
while [ $# -gt 0 ]; do
  case "$1" in
    --check) CHECK=1 ;;
    --force) FORCE=1 ;;
    --only) shift; ONLY+=("${1:?--only needs a tool name}") ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-binaries.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '[build-binaries] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Every build runs with this environment (not only the caller's shell).
export GOTOOLCHAIN=local   # never download another Go toolchain
export CGO_ENABLED=0       # static binaries, no C compiler needed
export GOWORK=off          # a repo-level go.work must not swallow the tool modules
export GOFLAGS="-trimpath -buildvcs=false -mod=readonly"

# Required version of module $2 in $1/go.mod (ignores replace lines).
mod_version() {
  awk -v m="$2" '($1 == m && $2 ~ /^v[0-9]/) { print $2; exit }
                ($1 == "require" && $2 == m && $3 ~ /^v[0-9]/) { print $3; exit }' "$1/go.mod"
}

selected() {
  [ ${#ONLY[@]} -eq 0 ] && return 0
  local t
  for t in "${ONLY[@]}"; do [ "$t" = "$1" ] && return 0; done
  return 1
}

# Host tools the e2e harness needs besides Go: openssl (PKI), flock, sha256sum.
ensure_host_tools() {
  local missing=()
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v flock >/dev/null 2>&1 || missing+=(util-linux)
  command -v sha256sum >/dev/null 2>&1 || missing+=(coreutils)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
      { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; } ||
      die "apt-get install ${missing[*]} failed"
  else
    die "missing host tools (Debian packages): ${missing[*]}"
  fi
}

need_go() {
  command -v go >/dev/null 2>&1 || die "go is not installed (need Go >= 1.26; GOTOOLCHAIN=local)"
}

# ---- versions (single source of truth: the tool modules' go.mod files) ----
K8S_VERSION=$(mod_version "$TOOLS_DIR/k8s" k8s.io/kubernetes)
ETCD_VERSION=$(mod_version "$TOOLS_DIR/etcd" go.etcd.io/etcd/server/v3)
KWOK_VERSION=$(mod_version "$TOOLS_DIR/kwok" sigs.k8s.io/kwok)
HELM_VERSION=$(mod_version "$TOOLS_DIR/helm" helm.sh/helm/v3)
HELM4_VERSION=$(mod_version "$TOOLS_DIR/helm4" helm.sh/helm/v4)
for v in K8S_VERSION ETCD_VERSION KWOK_VERSION HELM_VERSION HELM4_VERSION; do
  [ -n "${!v}" ] || die "cannot read $v from $TOOLS_DIR/*/go.mod"
done

# The Go toolchain is part of every cache key: a new Go rebuilds everything.
GO_VERSION=""
go_version() {
  if [ -z "$GO_VERSION" ]; then
    need_go
    GO_VERSION=$(go env GOVERSION)
  fi
  printf '%s' "$GO_VERSION"
}

input_hash() { # $1 = tool module dir, rest = extra strings that affect the output
  local dir=$1; shift
  { cat "$dir/go.mod" "$dir/go.sum"; printf '%s\n' "$RECIPE_REV" "$(go_version)" "$@"; } | sha256sum | cut -c1-16
}

MISSING_TOOLS=()

# build_tool NAME VERSION MODDIR LDFLAGS PKG... ; writes $BIN_ROOT/NAME-VERSION/
build_tool() {
  local name=$1 version=$2 moddir=$3 ldflags=$4; shift 4
  local out=$BIN_ROOT/$name-$version
  local t0; t0=$(now)
  local hash; hash=$(input_hash "$moddir" "$ldflags" "$@")
  # .stamp is written last inside the temporary directory, and the directory is renamed into
  # place only when complete: a build killed midway leaves no stamp, so it is never used.
  if [ "$FORCE" = 0 ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$hash" ]; then
    log "$name $version: cached ($(elapsed "$t0")s)"
    return 0
  fi
  if [ "$CHECK" = 1 ]; then
    MISSING_TOOLS+=("$name $version")
    return 0
  fi
  log "$name $version: building into $out ($(go_version), -p 2)"
  rm -rf "$out".tmp.*   # left by a killed build (we hold the lock)
  local tmp="$out.tmp.$$"
  mkdir -p "$tmp"
  local pkg bin t
  for pkg in "$@"; do
    bin=${pkg##*/}
    # etcd's main package is the module root go.etcd.io/etcd/server/v3
    [ "$pkg" = go.etcd.io/etcd/server/v3 ] && bin=etcd
    t=$(now)
    if ! (cd "$moddir" && go build -p 2 -ldflags "$ldflags" -o "$tmp/$bin" "$pkg"); then
      rm -rf "$tmp"
      die "$name: go build $pkg failed"
    fi
    log "  $bin: $(elapsed "$t")s ($(du -h "$tmp/$bin" | cut -f1))"
  done
  if [ "$name" = kwok ]; then
    # Standalone kwok needs Stage objects: take the "fast" stages + lease heartbeat
    # that ship in the module (the same set kwokctl uses by default).
    local kdir
    kdir=$(cd "$moddir" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
    local f first=1
    for f in node/fast/node-initialize.yaml \
             node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      [ -f "$kdir/kustomize/stage/$f" ] || die "kwok stage file missing: $kdir/kustomize/stage/$f"
      { [ $first = 1 ] || echo '---'; cat "$kdir/kustomize/stage/$f"; } >> "$tmp/kwok-stages.yaml"
      first=0
    done
  fi
  echo "$hash" > "$tmp/.stamp"
  rm -rf "$out"
  mv "$tmp" "$out"
  log "$name $version: built ($(elapsed "$t0")s)"
}

[ "$CHECK" = 1 ] || ensure_host_tools
mkdir -p "$BIN_ROOT"
# Serialise concurrent builds (two CI jobs / a test and a developer) on one machine. A check
# needs no lock: it only reads stamps, and a tool directory appears by an atomic rename.
if [ "$CHECK" = 0 ] && command -v flock >/dev/null 2>&1; then
  exec 9>"$BIN_ROOT/.lock"
  if ! flock -n 9; then
    log "another build holds $BIN_ROOT/.lock; waiting"
    flock 9
  fi
fi

T_ALL=$(now)

# ---- Kubernetes: version-stamped like hack/lib/version.sh ----
if selected kubernetes; then
  kv=${K8S_VERSION#v}; kmaj=${kv%%.*}; kmin=${kv#*.}; kmin=${kmin%%.*}
  LD="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LD="$LD -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$kmaj -X $p.gitMinor=$kmin"
    LD="$LD -X $p.gitTreeState=clean -X $p.gitCommit=0000000000000000000000000000000000000000"
    LD="$LD -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  build_tool kubernetes "$K8S_VERSION" "$TOOLS_DIR/k8s" "$LD" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl
fi

if selected etcd; then
  build_tool etcd "$ETCD_VERSION" "$TOOLS_DIR/etcd" "-s -w" go.etcd.io/etcd/server/v3
fi

if selected kwok; then
  build_tool kwok "$KWOK_VERSION" "$TOOLS_DIR/kwok" \
    "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
    sigs.k8s.io/kwok/cmd/kwok
fi

if selected helm; then
  # As helm's Makefile: version + default .Capabilities.KubeVersion from its client-go.
  cgv=$(mod_version "$TOOLS_DIR/helm" k8s.io/client-go); cgv=${cgv#v0.}; hmin=${cgv%%.*}
  HLD="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  HLD="$HLD -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  HLD="$HLD -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$hmin"
  HLD="$HLD -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$hmin"
  build_tool helm "$HELM_VERSION" "$TOOLS_DIR/helm" "$HLD" helm.sh/helm/v3/cmd/helm
fi

if selected helm4; then
  # Helm 4 reads its default .Capabilities.KubeVersion from client-go at run time.
  H4LD="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION"
  H4LD="$H4LD -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
  build_tool helm4 "$HELM4_VERSION" "$TOOLS_DIR/helm4" "$H4LD" helm.sh/helm/v4/cmd/helm
fi

if [ ${#MISSING_TOOLS[@]} -gt 0 ]; then
  die "not built: ${MISSING_TOOLS[*]} (in $BIN_ROOT). Run \`npm run setup\` first."
fi

# ---- one directory with every binary (symlinks), keyed by the version set ----
SET_DIR=$BIN_ROOT/e2e-kubernetes-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION-helm4-$HELM4_VERSION
mkdir -p "$SET_DIR"
link() { # $1 = tool dir name, $2 = file
  local src=$BIN_ROOT/$1/$2
  [ -e "$src" ] || return 0
  ln -sfn "../$1/$2" "$SET_DIR/$2"
}
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do link "kubernetes-$K8S_VERSION" "$b"; done
link "etcd-$ETCD_VERSION" etcd
link "kwok-$KWOK_VERSION" kwok
link "kwok-$KWOK_VERSION" kwok-stages.yaml
link "helm-$HELM_VERSION" helm
# Helm 4's binary is also called helm; the set names it helm4.
[ -e "$BIN_ROOT/helm4-$HELM4_VERSION/helm" ] && ln -sfn "../helm4-$HELM4_VERSION/helm" "$SET_DIR/helm4"

missing=()
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwok-stages.yaml helm helm4; do
  [ -e "$SET_DIR/$b" ] || missing+=("$b")
done
if [ ${#missing[@]} -gt 0 ] && [ ${#ONLY[@]} -eq 0 ]; then
  die "missing after build: ${missing[*]}"
fi
[ "$CHECK" = 1 ] || log "all done in $(elapsed "$T_ALL")s; binaries in $SET_DIR"
echo "$SET_DIR"
