#!/usr/bin/env bash
# Builds CPU Torch7 (LuaJIT 2.1, luarocks, torch, nn, nngraph) into PREFIX. Not run by CI.
#
#   tools/build_torch7.sh PREFIX [SOURCES]
#
# SOURCES: a folder holding git repositories named OWNER+NAME/repo (as the search
# tool's fetch leaves them); without it each is cloned from GitHub. Idempotent: a
# package already installed in PREFIX is skipped; delete PREFIX to start again.
# Verified by `PREFIX/bin/luajit -e "require 'nngraph'"` at the end (a few minutes on 2
# cores). The original's code (xingyizhou/pose-hg-3d) is cloned to PREFIX/src/pose-hg-3d.
# Dependencies that luarocks would download (luaffi, moses, graph) are installed from
# their sources with --deps-mode=none (LuaJIT has ffi built in).
set -euo pipefail
prefix=$(realpath -m "${1:?usage: tools/build_torch7.sh PREFIX [SOURCES]}")
sources=${2:-}
work="$prefix/src"
mkdir -p "$work"
export CMAKE_POLICY_VERSION_MINIMUM=3.5  # cmake 4 refuses their old CMakeLists otherwise

checkout() {  # checkout OWNER/NAME -> $work/NAME
  local repo=$1 name=${1#*/}
  if [ ! -d "$work/$name" ]; then
    if [ -n "$sources" ]; then
      git clone -q "$sources/${repo/\//+}/repo" "$work/$name"
    else
      git clone -q "https://github.com/$repo" "$work/$name"
    fi
  fi
  echo "$work/$name"
}

if [ ! -x "$prefix/bin/luajit" ]; then
  src=$(checkout torch/luajit-rocks)
  mkdir -p "$src/build" && cd "$src/build"
  cmake .. -DWITH_LUAJIT21=ON -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
  make -j"$(nproc)" >/dev/null && make install >/dev/null
fi
export PATH="$prefix/bin:$PATH"

installed() { luarocks list --porcelain 2>/dev/null | cut -f1 | grep -qx "$1"; }
rock() {  # rock NAME OWNER/REPO [ROCKSPEC GLOB]
  local name=$1 src
  installed "$name" && return 0
  src=$(checkout "$2")
  cd "$src"
  local spec="" candidate
  for candidate in ${3:-rocks/*.rockspec *.rockspec}; do
    [ -f "$candidate" ] && spec=$candidate && break
  done
  [ -n "$spec" ] || { echo "no rockspec for $name in $src" >&2; exit 1; }
  luarocks make --deps-mode=none "$spec" >/dev/null
  echo "installed $name"
}

rock paths torch/paths
rock cwrap torch/cwrap
rock torch torch/torch7
rock moses Yonaba/Moses "rockspec/moses-2.1.0-1.rockspec"
rock nn torch/nn
rock graph torch/graph
rock nngraph torch/nngraph
# The original's model code, read (not copied) by tools/torch7/*.lua: only src/models
# is checked out (the repository also holds large annotation files).
if [ ! -f "$work/pose-hg-3d/src/models/hgreg-3d.lua" ]; then
  rm -rf "$work/pose-hg-3d"
  origin="https://github.com/xingyizhou/pose-hg-3d"
  [ -n "$sources" ] && origin="$sources/xingyizhou+pose-hg-3d/repo"
  git clone -q --no-checkout "$origin" "$work/pose-hg-3d"
  git -C "$work/pose-hg-3d" checkout -q HEAD -- src/models
fi
# trepl (the `th` REPL) needs penlight and readline from outside; luajit runs the scripts.
luajit -e "require 'nngraph'; print('torch7 ok: ' .. _VERSION .. ', nngraph ' .. tostring(nn.gModule ~= nil))"
