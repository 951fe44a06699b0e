"""The three TFDS builders: splits and counts, the common schema, the crop
geometry (SPEC 3), the H36M depth target, the real MPII validation file, and one
clear error per kind of bad input."""

import logging
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import scipy.io
from data_fixtures import copy_raw, read_split, stack, tiny_raw, tiny_shards  # noqa: F401

from datasets import prepare
from datasets.errors import DatasetError
from pose3d_jax import geometry, skeleton

REAL_MPII_VALID = Path(__file__).resolve().parents[2] / "shared" / "data" / "mpii_valid.h5"
SPLITS = {
    "h36m": ("train", "test", "test_sample"),
    "mpii": ("train", "validation"),
    "mpi_inf_3dhp": ("test",),
}
COMMON = {
    "image": ((384, 384, 3), np.uint8),
    "joints_2d": ((16, 2), np.float32),
    "visible": ((16,), np.bool_),
    "depth": ((16,), np.float32),
    "has_depth": ((), np.bool_),
    "center": ((2,), np.float32),
    "scale": ((), np.float32),
    "to_original": ((2, 3), np.float32),
}
H36M_KEYS = ("subject", "action", "subaction", "camera")


def _examples(shards: Path, name: str) -> dict[str, list[dict]]:
    return {split: read_split(shards / name / "1.0.0", split) for split in SPLITS[name]}


@pytest.fixture(scope="module")
def built(tiny_shards):  # noqa: F811
    return {name: _examples(tiny_shards, name) for name in SPLITS}


def _h5(path: Path) -> dict:
    """The numeric datasets at the file's top level (not #refs# or MATLAB cells)."""
    with h5py.File(path, "r") as f:
        return {
            name: item[()]
            for name, item in f.items()
            if isinstance(item, h5py.Dataset) and item.dtype.kind != "O"
        }


def _h36m_raw(raw: Path) -> dict:
    """(subject, action, subaction, camera, frame) -> (joint_2d, joint_3d_mono) of the h5 files."""
    rows = {}
    for split in ("train", "test"):
        t = _h5(raw / "h36m" / "annot" / f"{split}.h5")
        for i, frame in enumerate(t["id"]):
            rows[(*(int(t[k][i]) for k in H36M_KEYS), int(frame))] = (
                t["joint_2d"][i],
                t["joint_3d_mono"][i],
            )
    return rows


def _h36m_key(example) -> tuple:
    return (*(int(example[k]) for k in H36M_KEYS), int(example["frame"]))


def spec3_target(joints_2d, joints_3d, crop=224):
    """The authors' target written out independently (fusion.lua getPartInfo, then
    pose-hgreg-3d.lua:24): root at the released joint 7, scale, place, and only
    then joint 7 := the shoulders' mean. Returns (xy in crop pixels, depth target)."""
    j2, j3 = np.array(joints_2d, float), np.array(joints_3d, float)
    shoulders = [skeleton.JOINT_INDEX["right_shoulder"], skeleton.JOINT_INDEX["left_shoulder"]]
    root = skeleton.JOINT_INDEX["thorax"]
    rel = j3 - j3[root]
    sum_2d = sum(np.hypot(*(j2[a] - j2[b])) for a, b in skeleton.BONES)
    sum_3d = sum(np.hypot(*(rel[a, :2] - rel[b, :2])) for a, b in skeleton.BONES)
    ratio = sum_2d / sum_3d
    target = np.concatenate([rel[:, :2] * ratio + j2[root], rel[:, 2:] * ratio + crop / 2], 1)
    target[root] = target[shoulders].mean(0)
    z_64 = target[:, 2] * 64 / crop  # the crop's scale to 64 px units
    return target[:, :2], z_64 / 64 * 2 - 1


def test_splits_and_counts(tiny_raw, built):  # noqa: F811
    h36m = [_h5(tiny_raw / "h36m" / "annot" / f"{s}.h5") for s in ("train", "test")]
    test_frames = h36m[1]["id"]
    assert len(built["h36m"]["train"]) == len(h36m[0]["id"])
    assert len(built["h36m"]["test"]) == len(test_frames)
    assert len(built["h36m"]["test_sample"]) == np.sum((test_frames - 1) % 200 == 0) > 0
    annot, valid = _h5(tiny_raw / "mpii" / "annot.h5"), _h5(tiny_raw / "mpii" / "valid.h5")
    held_out = set(zip(valid["index"], valid["person"], strict=True))
    train = [
        i
        for i, pair in enumerate(zip(annot["index"], annot["person"], strict=True))
        if annot["istrain"][i] == 1 and pair not in held_out
    ]
    assert len(built["mpii"]["train"]) == len(train)
    assert [(e["index"], e["person"]) for e in built["mpii"]["validation"]] == list(
        zip(valid["index"].astype(int), valid["person"].astype(int), strict=True)
    )
    valid_frames = sum(
        _h5(p)["valid_frame"].sum() for p in (tiny_raw / "mpi_inf_3dhp").glob("TS*/annot_data.mat")
    )
    assert len(built["mpi_inf_3dhp"]["test"]) == valid_frames
    subjects = {int(e["subject"]) for e in built["h36m"]["train"]}
    assert subjects <= set(skeleton.H36M_TRAIN_SUBJECTS)
    frames = [e["frame"] for e in built["h36m"]["train"]]
    assert frames != sorted(frames), "training examples are permuted"


def test_common_schema(built):
    for name, splits in built.items():
        for split, examples in splits.items():
            assert examples, (name, split)
            for key, (shape, dtype) in COMMON.items():
                value = np.asarray(examples[0][key])
                assert value.shape == shape and value.dtype == dtype, (name, key)
            np.testing.assert_allclose(stack(examples, "center"), 192.0)
            np.testing.assert_allclose(stack(examples, "scale"), 384 / 1.5 / 200, rtol=1e-6)
            assert np.all(stack(examples, "has_depth") == (name == "h36m"))


def test_visible_joints_inside_the_network_crop(built):
    for name, splits in built.items():
        for examples in splits.values():
            crop = geometry.crop_matrix(stack(examples, "center"), stack(examples, "scale"), 256)
            points = geometry.apply_affine(crop, stack(examples, "joints_2d"))
            inside = np.all((points >= 0) & (points < 256), axis=-1)
            assert np.all(inside | ~stack(examples, "visible")), name


def test_to_original_recovers_the_raw_annotation(tiny_raw, built):  # noqa: F811
    def back(e):
        return geometry.apply_affine(e["to_original"].astype(np.float64), e["joints_2d"])

    annot = _h5(tiny_raw / "mpii" / "annot.h5")
    parts = dict(zip(zip(annot["index"], annot["person"], strict=True), annot["part"], strict=True))
    for e in built["mpii"]["train"] + built["mpii"]["validation"]:
        part, seen = parts[(e["index"], e["person"])], e["visible"]
        np.testing.assert_allclose(back(e)[seen], part[seen], atol=0.5)
        np.testing.assert_allclose(e["joints_2d_orig"], part, atol=1e-3)
    order = list(skeleton.MPI_INF_3DHP_TO_MPII)
    for e in built["mpi_inf_3dhp"]["test"]:
        annot2 = _h5(tiny_raw / "mpi_inf_3dhp" / f"TS{e['sequence']}" / "annot_data.mat")["annot2"]
        np.testing.assert_allclose(back(e), annot2[e["frame"] - 1, 0][order], atol=0.5)
    raw = _h36m_raw(tiny_raw)
    for e in built["h36m"]["test"]:
        xy, _ = spec3_target(*raw[_h36m_key(e)])
        np.testing.assert_allclose(back(e), xy, atol=0.5)


def test_h36m_depth_is_the_spec3_target(tiny_raw, built):  # noqa: F811
    raw = _h36m_raw(tiny_raw)
    for e in built["h36m"]["train"] + built["h36m"]["test"]:
        joint_2d, joint_3d = raw[_h36m_key(e)]
        np.testing.assert_allclose(e["depth"], spec3_target(joint_2d, joint_3d)[1], atol=1e-5)
        np.testing.assert_allclose(e["joints_3d_mm"], joint_3d, rtol=1e-6)
        assert e["visible"].all()
    for e in built["mpii"]["validation"] + built["mpi_inf_3dhp"]["test"]:
        assert not e["depth"].any()


def _original_image(raw: Path, name: str, e: dict) -> np.ndarray:
    if name == "h36m":
        folder = "s_{:02d}_act_{:02d}_subact_{:02d}_ca_{:02d}".format(
            *(int(e[k]) for k in H36M_KEYS)
        )
        path = raw / "h36m" / "images" / folder / f"{folder}_{int(e['frame']):06d}.jpg"
    elif name == "mpii":
        path = raw / "mpii" / "images" / e["imgname"].decode()
    else:
        path = (
            raw
            / "mpi_inf_3dhp"
            / f"TS{e['sequence']}"
            / "imageSequence"
            / f"img_{e['frame']:06d}.jpg"
        )
    return cv2.imread(str(path))[..., ::-1]


def test_stored_image_is_the_original_crop(tiny_raw, built):  # noqa: F811
    """The un-augmented 256 input cut from the stored image equals the one cut
    straight from the original image (same geometry, up to JPEG and resampling)."""
    for name, splits in built.items():
        e = next(iter(splits.values()))[0]
        crop = geometry.crop_matrix(e["center"], e["scale"], 256)
        from_stored = cv2.warpAffine(e["image"], geometry.to_opencv_matrix(crop), (256, 256))
        to_stored = geometry.invert_affine(e["to_original"].astype(np.float64))
        direct = geometry.compose_affine(crop, to_stored)
        original = _original_image(tiny_raw, name, e)
        from_original = cv2.warpAffine(original, geometry.to_opencv_matrix(direct), (256, 256))
        diff = np.abs(from_stored.astype(float) - from_original.astype(float))
        assert np.median(diff) < 6, name
    h36m = built["h36m"]["test"][0]["image"]
    assert h36m[:40, :40].mean() < 3, "outside the release crop the stored image is black"


def test_h36m_from_matlab_meta_equals_from_h5(tmp_path_factory, tmp_path, built):
    raw = copy_raw(tmp_path_factory, "h36m", tmp_path)
    shutil.rmtree(raw / "annot")
    prepare.build("h36m", raw, tmp_path / "shards")
    from_meta = _examples(tmp_path / "shards", "h36m")
    for split, examples in built["h36m"].items():
        assert [_h36m_key(e) for e in from_meta[split]] == [_h36m_key(e) for e in examples]
        for key in ("joints_2d", "depth", "joints_3d_mm", "to_original"):
            np.testing.assert_allclose(
                stack(from_meta[split], key), stack(examples, key), atol=1e-4
            )


def test_prepare_cli_builds_what_is_present(tiny_raw, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copytree(tiny_raw / "mpi_inf_3dhp", raw / "mpi_inf_3dhp")
    prepare.main(["--raw_dir", str(raw), "--data_dir", str(tmp_path / "shards")])
    assert (tmp_path / "shards" / "mpi_inf_3dhp" / "1.0.0" / "dataset_info.json").is_file()
    assert "mpi_inf_3dhp" in caplog.text and "'test'" in caplog.text
    assert not (tmp_path / "shards" / "h36m").exists()
    with pytest.raises(SystemExit, match="no raw data"):
        prepare.main(["--raw_dir", str(tmp_path / "nothing"), "--data_dir", str(tmp_path / "x")])


# ---- bad input: one clear error naming the file or field ----


def _drop_field(path: Path, field: str) -> None:
    with h5py.File(path, "r+") as f:
        del f[field]


def _damage(raw: Path, kind: str) -> str:
    """Damages a raw copy; returns the regex the error must match."""
    if kind == "missing_image":
        image = sorted((raw / "images").glob("*.jpg"))[0]
        image.unlink()
        return image.name
    if kind in ("truncated_jpeg", "garbage_jpeg"):
        image = sorted(raw.rglob("*.jpg"))[1]  # [0] is an invalid 3DHP frame
        data = image.read_bytes()
        image.write_bytes(data[: len(data) // 2] if kind == "truncated_jpeg" else b"not a jpeg")
        return f"{image.name}.*(truncated|cannot be decoded)"
    if kind == "h5_field":
        _drop_field(raw / "annot.h5", "scale")
        return "annot.h5 has no field 'scale'"
    if kind == "h36m_h5_field":
        _drop_field(raw / "annot" / "train.h5", "joint_3d_mono")
        return "train.h5 has no field 'joint_3d_mono'"
    if kind == "mat_field":
        shutil.rmtree(raw / "annot")
        meta = sorted((raw / "images").glob("*/matlab_meta.mat"))[0]
        data = {k: v for k, v in scipy.io.loadmat(meta).items() if not k.startswith("__")}
        scipy.io.savemat(meta, {k: v for k, v in data.items() if k != "Y2d"})
        return "matlab_meta.mat has no field 'Y2d'"
    if kind == "mat73_field":
        _drop_field(raw / "TS2" / "annot_data.mat", "univ_annot3")
        return "TS2/annot_data.mat has no field 'univ_annot3'"
    raise ValueError(kind)


@pytest.mark.parametrize(
    "name, kind",
    [
        ("mpii", "missing_image"),
        ("h36m", "truncated_jpeg"),
        ("mpi_inf_3dhp", "garbage_jpeg"),
        ("mpii", "h5_field"),
        ("h36m", "h36m_h5_field"),
        ("h36m", "mat_field"),
        ("mpi_inf_3dhp", "mat73_field"),
    ],
)
def test_bad_input_gives_one_clear_error(tmp_path_factory, tmp_path, name, kind):
    raw = copy_raw(tmp_path_factory, name, tmp_path)
    with pytest.raises(DatasetError, match=_damage(raw, kind)):
        prepare.build(name, raw, tmp_path / "shards")


def test_skip_bad_images_leaves_them_out(tmp_path_factory, tmp_path, built, caplog):
    raw = copy_raw(tmp_path_factory, "mpii", tmp_path)
    _damage(raw, "missing_image")
    builder = prepare.build("mpii", raw, tmp_path / "shards", skip_bad_images=True)
    written = sum(s.num_examples for s in builder.info.splits.values())
    lost = sum(e["imgname"] == b"000000000.jpg" for s in built["mpii"].values() for e in s)
    assert lost and written == sum(len(s) for s in built["mpii"].values()) - lost
    assert "skipped 1 bad images" in caplog.text


def test_empty_or_missing_raw_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        prepare.build("mpii", tmp_path / "empty", tmp_path / "shards")
    with pytest.raises(DatasetError, match="does not exist"):
        prepare.build("h36m", tmp_path / "absent", tmp_path / "shards")
    import tensorflow_datasets as tfds

    from datasets.mpi_inf_3dhp import mpi_inf_3dhp

    builder = mpi_inf_3dhp.MpiInf3dhp(data_dir=str(tmp_path / "shards"))
    config = tfds.download.DownloadConfig(
        manual_dir=str(tmp_path / "empty"), try_download_gcs=False
    )
    with pytest.raises(DatasetError, match="raw folder .*empty"):
        builder.download_and_prepare(download_config=config)
    (tmp_path / "empty" / "unrelated.txt").write_text("x")
    with pytest.raises(DatasetError, match="no TS1..TS6 folder"):
        prepare.build("mpi_inf_3dhp", tmp_path / "empty", tmp_path / "shards")


def _placeholder_images(valid_h5: Path, folder: Path) -> None:
    """Grey JPEGs at every imgname, each big enough to hold its persons' joints."""
    with h5py.File(valid_h5, "r") as f:
        names, part, center = f["imgname"][()], f["part"][()], f["center"][()]
    extent = np.maximum(part.max(axis=1), center) + 1
    needed: dict[bytes, np.ndarray] = {}
    for name, size in zip(names, extent, strict=True):
        needed[name] = np.maximum(needed.get(name, 0), size)
    encoded: dict[tuple, bytes] = {}  # one encoding per rounded size
    folder.mkdir(parents=True)
    for name, size in needed.items():
        width, height = (int(v) for v in -(-size // 64) * 64)
        if (width, height) not in encoded:
            grey = np.full((height, width, 3), 128, np.uint8)
            encoded[(width, height)] = cv2.imencode(".jpg", grey)[1].tobytes()
        (folder / name.decode()).write_bytes(encoded[(width, height)])


def test_real_mpii_validation(tmp_path):
    if not REAL_MPII_VALID.is_file():
        pytest.skip(f"{REAL_MPII_VALID} is absent")
    raw = tmp_path / "mpii"
    _placeholder_images(REAL_MPII_VALID, raw / "images")
    shutil.copy(REAL_MPII_VALID, raw / "valid.h5")
    prepare.build("mpii", raw, tmp_path / "shards")
    examples = read_split(tmp_path / "shards" / "mpii" / "1.0.0", "validation", images=False)
    assert len(examples) == 2958
    real = _h5(REAL_MPII_VALID)
    assert [(e["index"], e["person"]) for e in examples] == list(
        zip(real["index"].astype(int), real["person"].astype(int), strict=True)
    )
    visible = stack(examples, "visible")
    # Annotated = x > 0 as the authors' Lua tests it: 44239 joints; one joint of
    # the file is (0, 121), so "any coordinate != 0" would count 44240.
    np.testing.assert_array_equal(visible, real["part"][..., 0] > 0)
    assert visible.sum() == 44239
    joints = stack(examples, "joints_2d")
    crop = geometry.crop_matrix(stack(examples, "center"), stack(examples, "scale"), 256)
    in_crop = np.all(
        (geometry.apply_affine(crop, joints) >= 0) & (geometry.apply_affine(crop, joints) < 256), -1
    )
    # SPEC 3's box (c_y += 15 s, s *= 1.25) holds all but a few of the real joints;
    # the stored image's margin holds them all.
    assert in_crop[visible].mean() > 0.999
    assert np.all((joints[visible] >= 0) & (joints[visible] < 384))
    back = geometry.apply_affine(stack(examples, "to_original").astype(np.float64), joints)
    np.testing.assert_allclose(back[visible], real["part"][visible], atol=0.5)


def test_3dhp_arrays_in_either_axis_order():
    from datasets.mpi_inf_3dhp.mpi_inf_3dhp import frames_first

    joints = np.arange(5 * 17 * 2, dtype=float).reshape(5, 17, 2)
    variants = (
        joints[:, None],  # the assumed h5py view [N, 1, 17, 2]
        joints.transpose(0, 2, 1)[:, None],  # [N, 1, 2, 17]
        joints.transpose(2, 1, 0)[:, :, None],  # frames last [2, 17, 1, N]
        joints.transpose(1, 2, 0),  # [17, 2, N]
    )
    for variant in variants:
        np.testing.assert_array_equal(
            frames_first(variant, 5, (17, 2), Path("x"), "annot2"), joints
        )
    with pytest.raises(DatasetError, match="'annot2' has shape"):
        frames_first(joints[:4], 5, (17, 2), Path("x"), "annot2")
