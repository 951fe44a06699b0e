"""Blender's own BVH importer on our BVH: posed bone heads against our joints, and a render.

Run headless with Blender 3.4 (Debian's `apt-get install blender`), after
tools/blender/write_clip.py:

    blender -b --factory-startup --python tools/blender/check_bvh.py -- \
        /tmp/bvh_check/turning.bvh /tmp/bvh_check/turning_joints.npy /tmp/bvh_check/out

The BVH is imported by bpy.ops.import_anim.bvh with its defaults (Y up, -Z forward,
rotations in the file's order); for every frame each bone named after one of our
joints has its posed head (armature world matrix @ pose bone head) taken back to BVH
axes and compared with the joint. Writes report.json (per-frame max and mean
distance, mm) and armature.jpg (Cycles renders of the posed armature at a few
frames, side by side) to the output folder, and prints the report's summary.
"""

import builtins
import json
import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector

BLENDER_TO_BVH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
RENDER_SIZE = (300, 420)


def arguments():
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    if len(argv) != 3:
        raise SystemExit("usage: blender -b --python check_bvh.py -- FILE.bvh JOINTS.npy OUT_DIR")
    return Path(argv[0]), Path(argv[1]), Path(argv[2])


def without_universal_newline_mode(importer):
    """Debian's Blender 3.4 runs its BVH importer on the system Python 3.11, where
    open(path, "rU") is an error (the mode was removed); "r" reads the same text."""

    def open_text(file, mode="r", *args, **kwargs):
        return builtins.open(file, mode.replace("U", ""), *args, **kwargs)

    importer.open = open_text


def import_bvh(path: Path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    from io_anim_bvh import import_bvh as importer

    without_universal_newline_mode(importer)
    bpy.ops.import_anim.bvh(filepath=str(path), update_scene_fps=True, update_scene_duration=True)
    return next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")


def posed_heads(armature, names, frames):
    """[frames, joints, 3] of the posed bone heads, BVH axes (metres)."""
    scene = bpy.context.scene
    out = np.empty((frames, len(names), 3))
    for t in range(frames):
        scene.frame_set(scene.frame_start + t)
        for j, name in enumerate(names):
            head = armature.matrix_world @ armature.pose.bones[name].head
            out[t, j] = BLENDER_TO_BVH @ np.array(head)
    return out


def _material(name, colour):
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = colour
    return material


def _attach(shape, armature, bone_name):
    """Parents `shape` to a bone keeping where it is (the armature is in its rest pose)."""
    world = shape.matrix_world.copy()
    shape.parent = armature
    shape.parent_type = "BONE"
    shape.parent_bone = bone_name
    bpy.context.view_layer.update()
    shape.matrix_world = world


def _cylinder(start, end, material):
    axis = end - start
    bpy.ops.mesh.primitive_cylinder_add(radius=0.025, depth=axis.length, vertices=16)
    shape = bpy.context.active_object
    rotation = Vector((0, 0, 1)).rotation_difference(axis.normalized()).to_matrix().to_4x4()
    shape.matrix_world = Matrix.Translation((start + end) / 2) @ rotation
    shape.data.materials.append(material)
    return shape


def bone_geometry(armature):
    """A sphere per joint and a cylinder per bone of the body, each parented to the bone
    that moves it: a segment from a joint's parent to the joint rides on the parent
    bone (the BVH offset lives in the parent's frame); a leaf's End Site on its own."""
    armature.data.pose_position = "REST"
    bpy.context.view_layer.update()
    left = _material("left", (0.15, 0.35, 0.85, 1.0))
    right = _material("right", (0.9, 0.4, 0.1, 1.0))
    centre = _material("centre", (0.85, 0.8, 0.7, 1.0))

    def side(name):
        return left if name.startswith("left") else right if name.startswith("right") else centre

    for bone in armature.data.bones:
        bpy.ops.mesh.primitive_uv_sphere_add(radius=0.04, location=bone.head_local)
        sphere = bpy.context.active_object
        sphere.data.materials.append(side(bone.name.split("_to_")[-1]))
        _attach(sphere, armature, bone.name)
        if bone.parent and (bone.head_local - bone.parent.head_local).length > 1e-3:
            segment = _cylinder(bone.parent.head_local, bone.head_local, side(bone.name))
            _attach(segment, armature, bone.parent.name)
        if not bone.children:
            _attach(_cylinder(bone.head_local, bone.tail_local, side(bone.name)), armature,
                    bone.name)  # fmt: skip
    bpy.context.view_layer.update()
    armature.data.pose_position = "POSE"


def stage(heads_bvh, pelvis_track):
    """Floor, sun and a camera in front of the walk, looking at its middle."""
    scene = bpy.context.scene
    centre_bvh = pelvis_track.mean(0)
    centre = Vector(np.linalg.inv(BLENDER_TO_BVH) @ centre_bvh)
    floor_z = float(np.min(heads_bvh[..., 1]))
    bpy.ops.mesh.primitive_plane_add(size=12.0, location=(centre.x, centre.y, floor_z))
    bpy.ops.object.light_add(type="SUN", location=(0, 0, 5), rotation=(0.6, 0.2, 0.4))
    bpy.context.active_object.data.energy = 4.0
    bpy.ops.object.camera_add()
    scene.camera = bpy.context.active_object
    scene.camera.data.lens = 40
    world = bpy.data.worlds.new("world")
    world.color = (0.8, 0.85, 0.9)
    scene.world = world
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 24
    scene.cycles.use_denoising = False  # Debian builds Cycles without OpenImageDenoise
    scene.cycles.device = "CPU"
    scene.render.resolution_x, scene.render.resolution_y = RENDER_SIZE
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"


def aim_camera(pelvis_bvh):
    """The camera 3.6 m in front of the pelvis, a little to the side and above it."""
    pelvis = Vector(np.linalg.inv(BLENDER_TO_BVH) @ pelvis_bvh)
    camera = bpy.context.scene.camera
    camera.location = pelvis + Vector((0.9, -3.6, 0.5))
    camera.rotation_euler = (pelvis + Vector((0, 0, 0.1)) - camera.location).to_track_quat(
        "-Z", "Y").to_euler()  # fmt: skip


def render_strip(frames_to_show, pelvis_track, out_dir: Path) -> Path:
    """Renders the frames, the camera following the pelvis, tiled left to right."""
    scene = bpy.context.scene
    tiles = []
    for t in frames_to_show:
        scene.frame_set(scene.frame_start + t)
        aim_camera(pelvis_track[t])
        scene.render.filepath = str(out_dir / f"frame_{t:03d}.png")
        bpy.ops.render.render(write_still=True)
        image = bpy.data.images.load(scene.render.filepath)
        pixels = np.array(image.pixels[:]).reshape(image.size[1], image.size[0], 4)
        tiles.append(pixels)
        bpy.data.images.remove(image)
        Path(scene.render.filepath).unlink()
    strip = np.concatenate(tiles, axis=1)
    result = bpy.data.images.new("strip", strip.shape[1], strip.shape[0], alpha=True)
    result.pixels = strip.reshape(-1)
    result.filepath_raw = str(out_dir / "armature.jpg")
    result.file_format = "JPEG"  # a render's noise makes a PNG ten times larger
    result.save()
    return Path(result.filepath_raw)


def main():
    bvh_path, joints_path, out_dir = arguments()
    out_dir.mkdir(parents=True, exist_ok=True)
    joints = np.load(joints_path)
    names = json.loads(joints_path.with_suffix(".json").read_text())["joint_names"]
    armature = import_bvh(bvh_path)
    heads = posed_heads(armature, names, len(joints))
    distance_mm = 1000.0 * np.linalg.norm(heads - joints, axis=-1)
    report = {
        "blender": bpy.app.version_string,
        "bvh": bvh_path.name,
        "frames": len(joints),
        "joints": names,
        "max_mm": round(float(distance_mm.max()), 4),
        "mean_mm": round(float(distance_mm.mean()), 4),
        "per_frame_max_mm": [round(float(d), 4) for d in distance_mm.max(1)],
        "per_joint_max_mm": {
            n: round(float(d), 4) for n, d in zip(names, distance_mm.max(0), strict=True)
        },
    }
    bone_geometry(armature)
    pelvis_track = heads[:, names.index("pelvis")]
    stage(heads, pelvis_track)
    shown = np.linspace(0, len(joints) - 1, 5).round().astype(int).tolist()
    report["rendered_frames"] = shown
    report["picture"] = str(render_strip(shown, pelvis_track, out_dir))
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))
    summary = {k: report[k] for k in ("blender", "bvh", "frames", "max_mm", "mean_mm")}
    print("BVH_CHECK " + json.dumps(summary))


main()
