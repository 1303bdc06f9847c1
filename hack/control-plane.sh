#!/usr/bin/env bash
# control-plane.sh builds the binaries of rgd's local control plane from Go modules
# (no Docker, no downloads of prebuilt binaries) into a cache outside the checkout:
#
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (k8s.io/kubernetes)
#   etcd                                                               (go.etcd.io/etcd/server/v3)
#   kwok                                                               (sigs.k8s.io/kwok)
#
# Usage: hack/control-plane.sh [--print-dir]
#   --print-dir  only print the directory the binaries live in (after building what is missing)
#
# Environment:
#   RGD_K8S_BINARIES=DIR  use binaries that already exist in DIR and build nothing.
#   XDG_CACHE_HOME        cache root (default $HOME/.cache).
#
# A binary is rebuilt only when it is missing or when the versions below change.
# Each binary is written to a temporary name and renamed when complete, so an
# interrupted build never leaves a half-written binary behind.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRINT_DIR=false
[[ "${1:-}" == "--print-dir" ]] && PRINT_DIR=true

# Progress goes to stderr so that --print-dir's stdout is only the directory.
log() { echo "control-plane: $*" >&2; }

if [[ -n "${RGD_K8S_BINARIES:-}" ]]; then
  for b in kube-apiserver etcd; do
    if [[ ! -x "$RGD_K8S_BINARIES/$b" ]]; then
      echo "control-plane: RGD_K8S_BINARIES=$RGD_K8S_BINARIES has no executable $b" >&2
      exit 1
    fi
  done
  $PRINT_DIR && echo "$RGD_K8S_BINARIES"
  exit 0
fi

DIR="${XDG_CACHE_HOME:-$HOME/.cache}/rgd/k8s-${K8S_VERSION}"
STAMP="$DIR/.versions"
WANT="kubernetes=${K8S_VERSION} etcd=${ETCD_VERSION} kwok=${KWOK_VERSION}"
mkdir -p "$DIR"

if [[ -f "$STAMP" && "$(cat "$STAMP")" != "$WANT" ]]; then
  log "versions changed ($(cat "$STAMP") -> $WANT): rebuilding"
  rm -f "$DIR"/kube-apiserver "$DIR"/kube-controller-manager "$DIR"/kube-scheduler "$DIR"/kubectl "$DIR"/etcd "$DIR"/kwok
fi

# build NAME MODULE_DIR PACKAGE: go build PACKAGE inside MODULE_DIR into $DIR/NAME.
build() {
  local name=$1 moddir=$2 pkg=$3
  if [[ -x "$DIR/$name" ]]; then
    return 0
  fi
  local start=$SECONDS tmp="$DIR/.$name.tmp.$$"
  log "building $name ($pkg); a cold build takes minutes (kube-apiserver about 20 on 2 cores)"
  if ! (cd "$moddir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o "$tmp" "$pkg") >"$DIR/.$name.build.log" 2>&1; then
    rm -f "$tmp"
    echo "control-plane: building $name failed; last lines of $DIR/.$name.build.log:" >&2
    tail -n 30 "$DIR/.$name.build.log" >&2
    exit 1
  fi
  mv -f "$tmp" "$DIR/$name"
  log "built $name in $((SECONDS - start))s"
}

build etcd "$ROOT/hack/tools/etcd" .
build kube-apiserver "$ROOT/hack/tools/kubernetes" k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager "$ROOT/hack/tools/kubernetes" k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler "$ROOT/hack/tools/kubernetes" k8s.io/kubernetes/cmd/kube-scheduler
build kubectl "$ROOT/hack/tools/kubernetes" k8s.io/kubernetes/cmd/kubectl

if [[ ! -x "$DIR/kwok" ]]; then
  start=$SECONDS
  log "building kwok (sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION})"
  gobin="$DIR/.kwok.bin.$$"
  mkdir -p "$gobin"
  if ! GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" >"$DIR/.kwok.build.log" 2>&1; then
    rm -rf "$gobin"
    echo "control-plane: building kwok failed; last lines of $DIR/.kwok.build.log:" >&2
    tail -n 30 "$DIR/.kwok.build.log" >&2
    exit 1
  fi
  mv -f "$gobin/kwok" "$DIR/kwok"
  rm -rf "$gobin"
  log "built kwok in $((SECONDS - start))s"
fi

echo "$WANT" >"$STAMP"
if $PRINT_DIR; then
  echo "$DIR"
else
  log "binaries ready in $DIR"
fi
