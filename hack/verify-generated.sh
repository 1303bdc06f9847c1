#!/usr/bin/env bash
# verify-generated.sh regenerates deep-copy code and crds/ into a scratch copy
# and fails, naming the files, when the checked-in ones differ. Then it
# renders the Helm chart (hack/chart) and fails when what is generated from
# it, the chart's copy of crds/ and deploy/, is stale.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
files=(crds pkg/apis)
for f in "${files[@]}"; do mkdir -p "$tmp/$(dirname "$f")"; cp -a "$f" "$tmp/$f"; done
make -s generate >/dev/null
stale=0
for f in "${files[@]}"; do
  if ! diff -r "$tmp/$f" "$f" >/dev/null; then
    diff -ru "$tmp/$f" "$f" | head -40 >&2
    stale=1
  fi
done
if [[ $stale -ne 0 ]]; then
  # Put the checked-in files back so the tree is as it was.
  for f in "${files[@]}"; do rm -rf "$f"; cp -a "$tmp/$f" "$f"; done
  echo "verify-generated: generated files are stale; run 'make generate' and commit the result" >&2
  exit 1
fi
echo "verify-generated: deep-copy code and crds/ are up to date"
(cd hack/chart && "${GO:-go}" run . -root ../.. -check)
echo "verify-generated: charts/rgd/crds/ and deploy/ are the chart's rendering"
