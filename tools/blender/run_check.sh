#!/usr/bin/env bash
# The BVH check in Blender (not CI): a generator clip written by pose3d_jax.write_bvh,
# imported by Blender 3.4's own BVH importer, its bone heads compared with the clip's
# joints, and a render of the armature. Needs `apt-get install blender python3-numpy`.
#   bash tools/blender/run_check.sh [turning|walking|arms_raised] [OUT_DIR]
set -euo pipefail
clip="${1:-turning}"
out="${2:-/tmp/bvh_check}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
command -v blender >/dev/null || { echo "blender not found: apt-get install blender python3-numpy" >&2; exit 1; }
"$root/.venv/bin/python" "$root/tools/blender/write_clip.py" --clip "$clip" --out "$out"
blender -b --factory-startup --python "$root/tools/blender/check_bvh.py" -- \
  "$out/$clip.bvh" "$out/${clip}_joints.npy" "$out/blender" 2>&1 | grep -E "BVH_CHECK|Error" 
