"""The synthetic generator writes the releases' raw formats (SPEC 7), faithfully
and deterministically: 2D is the pinhole projection of the 3D, limbs have the
standard bone lengths."""

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import scipy.io
from data_fixtures import tiny_raw  # noqa: F401

from datasets import synthetic
from datasets.synthetic import mpi_inf_3dhp_raw
from pose3d_jax import geometry, skeleton

REAL_MPII_VALID = Path(__file__).resolve().parents[2] / "shared" / "data" / "mpii_valid.h5"
H36M_FOLDER_PARTS = ("s", "act", "subact", "ca")
MPII_FIELDS = (
    "center",
    "imgname",
    "index",
    "normalize",
    "part",
    "person",
    "scale",
    "torsoangle",
    "visible",
)
DHP_FIELDS = ("valid_frame", "annot2", "annot3", "univ_annot3", "activity_annotation", "bb_crop")
STANDARD_BONES = {  # (joint, joint) by name -> standard length key
    ("right_ankle", "right_knee"): "knee_ankle",
    ("left_knee", "left_ankle"): "knee_ankle",
    ("right_knee", "right_hip"): "hip_knee",
    ("left_hip", "left_knee"): "hip_knee",
    ("right_wrist", "right_elbow"): "elbow_wrist",
    ("left_elbow", "left_wrist"): "elbow_wrist",
    ("right_elbow", "right_shoulder"): "shoulder_elbow",
    ("left_shoulder", "left_elbow"): "shoulder_elbow",
}


def _h36m_metas(root: Path):
    for folder in sorted((root / "h36m" / "images").iterdir()):
        yield folder, scipy.io.loadmat(folder / "matlab_meta.mat")


def _h5_contents(f: h5py.File) -> dict:
    """Every dataset of an HDF5 file by path, MATLAB cell references followed."""
    out = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            value = item[()]
            if item.dtype.kind == "O":  # object references (a MATLAB cell)
                value = [f[ref][()] for ref in value.ravel()]
            out[name] = value

    f.visititems(visit)
    return out


def _dhp_sequences(root: Path):
    for seq in sorted((root / "mpi_inf_3dhp").glob("TS*")):
        with h5py.File(seq / "annot_data.mat", "r") as f:
            yield seq, _h5_contents(f)


def _file_contents(root: Path) -> dict:
    """Every file's content, comparable across runs (.mat headers carry a date)."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = str(path.relative_to(root))
        if path.suffix == ".mat" and path.read_bytes()[:10] != b"MATLAB 7.3":
            out[rel] = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
        elif path.suffix in (".h5", ".mat"):
            with h5py.File(path, "r") as f:
                out[rel] = _h5_contents(f)
        else:
            out[rel] = path.read_bytes()
    return out


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_generator_is_deterministic(tmp_path):
    sizes = {"num_h36m": 14, "num_mpii": 3, "num_3dhp": 6}
    first, again, other = (tmp_path / n for n in ("a", "b", "c"))
    synthetic.generate(first, seed=3, **sizes)
    synthetic.generate(again, seed=3, **sizes)
    synthetic.generate(other, seed=4, **sizes)
    a, b, c = _file_contents(first), _file_contents(again), _file_contents(other)
    assert a.keys() == b.keys()
    assert all(_same(a[k], b[k]) for k in a)
    shared = [k for k in a.keys() & c.keys() if k.endswith(".jpg")]
    assert not all(a[k] == c[k] for k in shared)
    assert not list(first.rglob(".*tmp*")), "temporary files left behind"


def test_h36m_release_layout(tiny_raw):  # noqa: F811
    for folder, meta in _h36m_metas(tiny_raw):
        parts = folder.name.split("_")
        assert tuple(parts[0::2]) == H36M_FOLDER_PARTS
        subject, action, subaction, camera = (int(p) for p in parts[1::2])
        assert subject in skeleton.H36M_TRAIN_SUBJECTS + skeleton.H36M_TEST_SUBJECTS
        assert action in skeleton.H36M_ACTIONS and subaction in (1, 2) and camera in (1, 2, 3, 4)
        n = int(meta["num_images"].squeeze())
        assert meta["Y2d"].shape == (34, n) and meta["Y3d_mono"].shape == (51, n)
        assert meta["bbox"].shape == (4, n)
        filled = np.flatnonzero(np.any(meta["Y3d_mono"] != 0, axis=0))
        assert filled[0] == 0 and np.all(filled % 5 == 0)
        assert not np.any(np.delete(meta["Y2d"], filled, axis=1))
        jpgs = sorted(p.name for p in folder.glob("*.jpg"))
        assert jpgs == [f"{folder.name}_{c + 1:06d}.jpg" for c in filled]
        assert cv2.imread(str(folder / jpgs[0])).shape == (224, 224, 3)
    for split in ("train", "test"):
        with h5py.File(tiny_raw / "h36m" / "annot" / f"{split}.h5", "r") as f:
            n = len(f["id"])
            assert f["joint_2d"].shape == (n, 16, 2) and f["joint_3d_mono"].shape == (n, 16, 3)
            assert f["bbox"].shape == (n, 4)
            for name in ("subject", "action", "subaction", "camera", "istrain"):
                assert f[name].shape == (n,)
            assert np.all(f["istrain"][()] == (split == "train"))
            subjects = (
                skeleton.H36M_TRAIN_SUBJECTS if split == "train" else skeleton.H36M_TEST_SUBJECTS
            )
            assert np.all(np.isin(f["subject"][()], subjects))


def test_h36m_h5_matches_the_videos(tiny_raw):  # noqa: F811
    order = list(skeleton.H36M_TO_MPII)
    rows = {}
    for split in ("train", "test"):
        with h5py.File(tiny_raw / "h36m" / "annot" / f"{split}.h5", "r") as f:
            for i in range(len(f["id"])):
                key = tuple(
                    int(f[k][i]) for k in ("subject", "action", "subaction", "camera", "id")
                )
                rows[key] = (f["joint_2d"][i], f["joint_3d_mono"][i])
    count = 0
    for folder, meta in _h36m_metas(tiny_raw):
        key = tuple(int(p) for p in folder.name.split("_")[1::2])
        for col in np.flatnonzero(np.any(meta["Y3d_mono"] != 0, axis=0)):
            j2, j3 = rows[(*key, col + 1)]
            np.testing.assert_allclose(j2, meta["Y2d"][:, col].reshape(17, 2)[order])
            np.testing.assert_allclose(j3, meta["Y3d_mono"][:, col].reshape(17, 3)[order])
            count += 1
    assert count == len(rows) == synthetic_count(tiny_raw)


def synthetic_count(root: Path) -> int:
    return len(list((root / "h36m" / "images").glob("*/*.jpg")))


def _fit_pinhole(points_3d, points_2d):
    """Least-squares u = a X/Z + b, v = a Y/Z + c; returns (a, b, c) and the max residual."""
    x, y = points_3d[:, 0] / points_3d[:, 2], points_3d[:, 1] / points_3d[:, 2]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    design = np.concatenate([np.stack([x, ones, zeros], 1), np.stack([y, zeros, ones], 1)])
    target = np.concatenate([points_2d[:, 0], points_2d[:, 1]])
    params = np.linalg.lstsq(design, target, rcond=None)[0]
    return params, np.abs(design @ params - target).max()


def test_2d_is_the_projection_of_3d(tiny_raw):  # noqa: F811
    for _, meta in _h36m_metas(tiny_raw):
        focal, principal = [], []
        for col in np.flatnonzero(np.any(meta["Y3d_mono"] != 0, axis=0)):
            (a, b, c), residual = _fit_pinhole(
                meta["Y3d_mono"][:, col].reshape(17, 3), meta["Y2d"][:, col].reshape(17, 2)
            )
            assert residual < 1e-6
            x1, y1, x2, _ = meta["bbox"][:, col]
            k = 224 / (x2 - x1)  # the crop maps the square box to 224 px
            focal.append(a / k)
            principal.append((b / k + x1, c / k + y1))
        np.testing.assert_allclose(focal, 1145, atol=5.01)  # one camera per video
        np.testing.assert_allclose(
            principal, np.broadcast_to(principal[0], np.shape(principal)), atol=1e-6
        )
    for seq, ann in _dhp_sequences(tiny_raw):
        (a, _, _), residual = _fit_pinhole(
            ann["annot3"].reshape(-1, 3), ann["annot2"].reshape(-1, 2)
        )
        height, width = cv2.imread(str(seq / "imageSequence" / "img_000001.jpg")).shape[:2]
        assert residual < 1e-6
        assert a == pytest.approx(mpi_inf_3dhp_raw.focal_px(width, height), rel=0.031)
        np.testing.assert_array_equal(ann["univ_annot3"], ann["annot3"])


def test_bone_lengths_are_standard(tiny_raw):  # noqa: F811
    poses = [
        meta["Y3d_mono"][:, col].reshape(17, 3)[list(skeleton.H36M_TO_MPII)]
        for _, meta in _h36m_metas(tiny_raw)
        for col in np.flatnonzero(np.any(meta["Y3d_mono"] != 0, axis=0))
    ]
    for _, ann in _dhp_sequences(tiny_raw):
        poses += list(ann["univ_annot3"][:, 0][:, list(skeleton.MPI_INF_3DHP_TO_MPII)])
    lengths = skeleton.bone_lengths(np.stack(poses))
    for bone, key in STANDARD_BONES.items():
        index = [
            skeleton.BONE_NAMES.index(b) for b in (bone, bone[::-1]) if b in skeleton.BONE_NAMES
        ]
        np.testing.assert_allclose(
            lengths[:, index[0]], skeleton.STANDARD_BONE_LENGTH_MM[key], rtol=1e-9
        )


def test_mpii_layout(tiny_raw):  # noqa: F811
    root = tiny_raw / "mpii"
    with h5py.File(root / "annot.h5", "r") as annot, h5py.File(root / "valid.h5", "r") as valid:
        assert set(valid) == set(MPII_FIELDS)
        assert set(annot) == set(MPII_FIELDS) | {"multi", "istrain"}
        n = len(annot["index"])
        for name in set(MPII_FIELDS) - {"imgname"}:
            assert annot[name].dtype == valid[name].dtype
            assert annot[name].shape[1:] == valid[name].shape[1:] and annot[name].shape[0] == n
        # imgname: 16 character codes in annot.h5 (convert_annot.py), 13 bytes in valid.h5
        assert annot["imgname"].dtype == np.float64 and annot["imgname"].shape == (n, 16)
        assert valid["imgname"].dtype == np.dtype("S13") and annot["part"].shape == (n, 16, 2)
        names = ["".join(chr(int(c)) for c in row if c) for row in annot["imgname"][()]]
        part, visible = annot["part"][()], annot["visible"][()]
        missing = part[..., 0] <= 0  # the authors' test: annotated when x > 0
        assert missing.any() and np.all(visible[missing] == 0)
        test_persons = annot["istrain"][()] == 0
        assert np.all(part[test_persons] == -1), "convert_annot.py gives test persons part -1"
        assert (visible[~missing] == 0).any(), "some annotated joints are marked occluded"
        for name in set(names):
            assert (root / "images" / name).is_file()
        widths = {cv2.imread(str(p)).shape[1] for p in (root / "images").glob("*.jpg")}
        assert min(widths) >= 480 and max(widths) <= 1280 and len(widths) > 3
        # The SPEC-3 box (c_y += 15 s, s *= 1.25) holds every annotated joint.
        scale = annot["scale"][()]
        center = annot["center"][()] + np.stack([0 * scale, 15 * scale], axis=1)
        in_crop = geometry.apply_affine(geometry.crop_matrix(center, 1.25 * scale, 256), part)
        inside = np.all((in_crop >= 0) & (in_crop < 256), axis=-1)
        assert np.all(inside | missing)
        assert (annot["istrain"][()] == 0).any() and (annot["istrain"][()] == 1).any()
        pairs = set(zip(annot["index"][()], annot["person"][()], strict=True))
        assert set(zip(valid["index"][()], valid["person"][()], strict=True)) <= pairs
    if REAL_MPII_VALID.is_file():  # same datasets, dtypes and row shapes as the real file
        with h5py.File(REAL_MPII_VALID, "r") as real, h5py.File(root / "valid.h5", "r") as ours:
            assert set(real) == set(ours)
            for name in real:
                assert (
                    real[name].dtype == ours[name].dtype
                    and real[name].shape[1:] == ours[name].shape[1:]
                )


def test_mpi_inf_3dhp_layout(tiny_raw):  # noqa: F811
    """The official test set's layout (SPEC 7): MATLAB v7.3 header, bb_crop that is
    not a box (N x 34, or a cell of references into #refs#), real frame sizes."""
    sequences = list(_dhp_sequences(tiny_raw))
    assert [s.name for s, _ in sequences] == [f"TS{i}" for i in range(1, 7)]
    invalid, cells, sizes = 0, 0, {}
    for seq, ann in sequences:
        header = (seq / "annot_data.mat").read_bytes()[:512]
        assert header.startswith(b"MATLAB 7.3 MAT-file") and header[126:128] == b"IM"
        with h5py.File(seq / "annot_data.mat", "r") as f:
            assert f.userblock_size == 512
            if f["bb_crop"].dtype.kind == "O":
                cells += 1
                assert isinstance(f["#refs#"], h5py.Group)
                assert f["bb_crop"].attrs["MATLAB_class"] == b"cell"
        assert set(DHP_FIELDS) <= {name.split("/")[0] for name in ann}
        n = len(ann["valid_frame"])
        assert ann["annot2"].shape == (n, 1, 17, 2)
        assert ann["annot3"].shape == ann["univ_annot3"].shape == (n, 1, 17, 3)
        assert ann["valid_frame"].shape == ann["activity_annotation"].shape == (n, 1)
        assert np.shape(ann["bb_crop"]) in ((n, 34), (n, 2, 17)), "bb_crop is not a box"
        invalid += int((ann["valid_frame"] == 0).sum())
        names = sorted(p.name for p in (seq / "imageSequence").glob("*.jpg"))
        assert names == [f"img_{i + 1:06d}.jpg" for i in range(n)]
        height, width = cv2.imread(str(seq / "imageSequence" / names[0])).shape[:2]
        sizes[seq.name] = (width, height)
    assert invalid > 0 and 0 < cells < len(sequences)
    assert sizes["TS4"] == (2048, 2048) and sizes["TS5"] == sizes["TS6"] == (1920, 1080)


def test_synthetic_config_scales_to_the_synthetic_skeleton():
    """configs/synthetic.py's bone sum is the generated people's 14 bones (every pose)."""
    from configs import default
    from configs import synthetic as synthetic_config
    from datasets.synthetic import body

    rng = np.random.default_rng(0)
    for _ in range(5):
        joints = body.our_joints(body.sample_pose(rng), body.H36M_STYLE)
        bone_sum = sum(np.linalg.norm(joints[a] - joints[b]) for a, b in skeleton.BONES)
        assert bone_sum == pytest.approx(synthetic_config.get_config().eval.bone_sum_mm)
    assert default.get_config().eval.bone_sum_mm == skeleton.MEAN_SKELETON_BONE_SUM_MM
