#!/usr/bin/env bash
# Makes `localhost/node:24-bookworm-slim` without a registry: a Debian bookworm rootfs
# (mmdebstrap, minbase + ca-certificates) with the Node 24 binary of the npm `node` package this
# repository installs, and the machine's npm. The official image has the same layout
# (/usr/local/bin/node, npm, npx). Cached: nothing is done when the image exists and its stamp
# (the Node version) matches. `--check` only says whether it is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=localhost/node:24-bookworm-slim
NODE_BIN=node_modules/node/bin/node
version=$("$NODE_BIN" --version)
have=$(buildah inspect --type image --format '{{index .ImageAnnotations "kni.node-version"}}' "$IMAGE" 2>/dev/null || true)
if [ "$have" = "$version" ]; then
  echo "[image-base] $IMAGE (node $version): cached"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "[image-base] $IMAGE (node $version) missing: run \`npm run setup\` first" >&2
  exit 1
fi
started=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$work/rootfs.tar"
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mnt=$(buildah mount "$ctr")
tar -xf "$work/rootfs.tar" -C "$mnt"
install -m 0755 "$NODE_BIN" "$mnt/usr/local/bin/node"
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
mkdir -p "$mnt/usr/local/lib/node_modules"
cp -r "$npm_dir" "$mnt/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd node --annotation "kni.node-version=$version" "$ctr"
buildah commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
echo "[image-base] $IMAGE (node $version): built ($(($(date +%s) - started))s)"
