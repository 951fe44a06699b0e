#!/usr/bin/env bash
# Writes tests/fixtures/torch7/*.t7.gz with real Torch7 (tools/build_torch7.sh PREFIX first):
# the small configuration of the original network (16 features, 2 stacks, 1 module, 1
# depth-head module; 161,888 parameters) as nn (after clearState), float and cudnn-named
# files, its input and Torch7's outputs, the criteria's values and gradients, and two files
# the converter must refuse. Not run by CI; the fixtures are committed.
#
#   tools/torch7/make_fixtures.sh PREFIX
set -euo pipefail
prefix=$(realpath "${1:?usage: tools/torch7/make_fixtures.sh PREFIX}")
here=$(cd "$(dirname "$0")" && pwd)
models="$prefix/src/pose-hg-3d/src/models"
out="$here/../../tests/fixtures/torch7"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$prefix/bin/luajit" "$here/write_models.lua" "$models" "$tmp" 16 2 1 1 1 1
"$prefix/bin/luajit" "$here/write_criteria.lua" "$models" "$tmp/criteria.t7"
mkdir -p "$out"
for name in model_clearstate model_float model_cudnn io criteria optim_state model_ascii; do
  gzip -9 -n -c "$tmp/$name.t7" > "$out/$name.t7.gz"
done
ls -l "$out"
