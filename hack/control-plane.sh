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
#   RGD_BUILD_SERIAL=1    build one binary after another (less memory; by
#                         default etcd and kwok build beside Kubernetes when
#                         at least 6 GiB are available).
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

GOBUILD=(go build -trimpath -ldflags='-s -w')
# Temporary build directories of this run go, whatever happens.
trap 'rm -rf "$DIR"/.*.tmp.$$' EXIT

# install_from TMP NAME...: move the binaries a build wrote into $TMP to $DIR,
# each by rename, so that an interrupted build never leaves a half-written
# binary behind.
install_from() {
  local tmp=$1
  shift
  local name
  for name in "$@"; do mv -f "$tmp/$name" "$DIR/$name"; done
}

# fail NAME LOG: report a failed build with the end of its log.
fail() {
  echo "control-plane: building $1 failed; last lines of $2:" >&2
  tail -n 30 "$2" >&2
  return 1
}

# build_kubernetes: the missing ones of kube-apiserver, kube-controller-manager,
# kube-scheduler and kubectl, in one `go build`, so that the packages they
# share are compiled once and their links overlap.
build_kubernetes() {
  local names=() pkgs=() name
  for name in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [[ -x "$DIR/$name" ]] && continue
    names+=("$name")
    pkgs+=("k8s.io/kubernetes/cmd/$name")
  done
  [[ ${#names[@]} -eq 0 ]] && return 0
  local start=$SECONDS tmp="$DIR/.kubernetes.tmp.$$" log="$DIR/.kubernetes.build.log"
  mkdir -p "$tmp"
  log "building ${names[*]} (k8s.io/kubernetes ${K8S_VERSION}); a cold build takes about 20 minutes on 2 cores"
  if ! (cd "$ROOT/hack/tools/kubernetes" && CGO_ENABLED=0 GOFLAGS=-mod=mod "${GOBUILD[@]}" -o "$tmp/" "${pkgs[@]}") >"$log" 2>&1; then
    rm -rf "$tmp"
    fail "${names[*]}" "$log"
    return 1
  fi
  install_from "$tmp" "${names[@]}"
  rm -rf "$tmp"
  log "built ${names[*]} in $((SECONDS - start))s"
}

# build_etcd: etcd from hack/tools/etcd.
build_etcd() {
  [[ -x "$DIR/etcd" ]] && return 0
  local start=$SECONDS tmp="$DIR/.etcd.tmp.$$" log="$DIR/.etcd.build.log"
  mkdir -p "$tmp"
  log "building etcd (go.etcd.io/etcd/server/v3 ${ETCD_VERSION})"
  if ! (cd "$ROOT/hack/tools/etcd" && CGO_ENABLED=0 GOFLAGS=-mod=mod "${GOBUILD[@]}" -o "$tmp/etcd" .) >"$log" 2>&1; then
    rm -rf "$tmp"
    fail etcd "$log"
    return 1
  fi
  install_from "$tmp" etcd
  rm -rf "$tmp"
  log "built etcd in $((SECONDS - start))s"
}

# build_kwok: kwok through go install at its version.
build_kwok() {
  [[ -x "$DIR/kwok" ]] && return 0
  local start=$SECONDS tmp="$DIR/.kwok.tmp.$$" log="$DIR/.kwok.build.log"
  mkdir -p "$tmp"
  log "building kwok (sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION})"
  if ! GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" >"$log" 2>&1; then
    rm -rf "$tmp"
    fail kwok "$log"
    return 1
  fi
  install_from "$tmp" kwok
  rm -rf "$tmp"
  log "built kwok in $((SECONDS - start))s"
}

# Building etcd and kwok beside Kubernetes keeps both cores busy while one
# build is in a serial phase (a large package, a link). Three builds at once
# need about 6 GiB; with less memory available they run one after another.
avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
if [[ "${RGD_BUILD_SERIAL:-}" == "" && ${avail_kib:-0} -ge $((6 * 1024 * 1024)) ]]; then
  pids=()
  build_etcd & pids+=($!)
  build_kwok & pids+=($!)
  failed=0
  build_kubernetes || failed=1
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [[ $failed -eq 0 ]] || exit 1
else
  build_etcd
  build_kubernetes
  build_kwok
fi

echo "$WANT" >"$STAMP"
if $PRINT_DIR; then
  echo "$DIR"
else
  log "binaries ready in $DIR"
fi
