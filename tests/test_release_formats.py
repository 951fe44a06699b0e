"""The builders read the public releases as they really are (issue 18,
datasets/README.md "Sources"): the official MPI-INF-3DHP test set, the authors'
H36M sample test and targets, MPII's annotation forms; and the Apache Beam path
(prepare --workers N, the `tfds` command) writes what the plain path writes."""

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from data_fixtures import copy_raw, read_split, stack, tiny_raw, tiny_shards  # noqa: F401

from datasets import common, prepare
from datasets.errors import DatasetError
from datasets.h36m import targets
from datasets.mpii import layout as mpii_layout
from datasets.synthetic import h36m_raw, render
from pose3d_jax import geometry, skeleton

IN_PROCESS_BEAM = "--runner=DirectRunner --direct_running_mode=in_memory"
ROOT = Path(__file__).resolve().parents[1]


def _numbers(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: v[()] for k, v in f.items() if isinstance(v, h5py.Dataset) and v.dtype != "O"}


def _same_examples(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


# ---- MPI-INF-3DHP: the official test-set layout ----


def test_3dhp_official_layout_builds(tiny_raw, tiny_shards):  # noqa: F811
    """One example per valid frame; the box is annot2's extent x 1.2 (square), so the
    crop holds every joint; the joints map back to annot2 within 1 px and the 3D
    joints are univ_annot3 in our order, though bb_crop is no box and #refs# exists."""
    examples = read_split(tiny_shards / "mpi_inf_3dhp" / "1.0.0", "test")
    order = list(skeleton.MPI_INF_3DHP_TO_MPII)
    by_sequence = {}
    for e in examples:
        by_sequence.setdefault(int(e["sequence"]), []).append(e)
    for seq, group in by_sequence.items():
        ann = _numbers(tiny_raw / "mpi_inf_3dhp" / f"TS{seq}" / "annot_data.mat")
        valid = np.flatnonzero(ann["valid_frame"][:, 0])
        assert [int(e["frame"]) for e in group] == list(valid + 1)
        for e in group:
            annot2 = ann["annot2"][e["frame"] - 1, 0]
            back = geometry.apply_affine(e["to_original"].astype(np.float64), e["joints_2d"])
            np.testing.assert_allclose(back, annot2[order], atol=1.0)
            np.testing.assert_allclose(
                e["joints_3d_mm"], ann["univ_annot3"][e["frame"] - 1, 0][order], rtol=1e-6
            )
            # stored pixel -> original pixel scale, times the box's 256 stored pixels
            side = 256 * np.sqrt(abs(np.linalg.det(e["to_original"][:, :2].astype(np.float64))))
            extent = (annot2.max(axis=0) - annot2.min(axis=0)).max()
            assert side == pytest.approx(1.2 * extent, rel=1e-4)
        crop = geometry.crop_matrix(stack(group, "center"), stack(group, "scale"), 256)
        inside = geometry.apply_affine(crop, stack(group, "joints_2d"))
        assert np.all((inside >= 0) & (inside < 256)) and stack(group, "visible").all()
    assert set(by_sequence) == set(range(1, 7))


def test_3dhp_prefers_the_corrected_annotation(tmp_path_factory, tmp_path):
    raw = copy_raw(tmp_path_factory, "mpi_inf_3dhp", tmp_path)
    original = raw / "TS6" / "annot_data.mat"
    corrected = raw / "TS6" / "annot_data-corr.mat"
    shutil.copy(original, corrected)
    with h5py.File(corrected, "r+") as f:  # keeps the 512-byte MATLAB header
        f["univ_annot3"][...] = f["univ_annot3"][()] + 7.0
    prepare.build("mpi_inf_3dhp", raw, tmp_path / "shards")
    examples = read_split(tmp_path / "shards" / "mpi_inf_3dhp" / "1.0.0", "test", images=False)
    ts6 = [e for e in examples if e["sequence"] == 6]
    univ = _numbers(original)["univ_annot3"][:, 0][:, list(skeleton.MPI_INF_3DHP_TO_MPII)]
    assert ts6
    for e in ts6:
        np.testing.assert_allclose(e["joints_3d_mm"], univ[e["frame"] - 1] + 7.0, rtol=1e-6)
    original.unlink()
    corrected.unlink()
    match = "TS6: .* holds no annot_data-corr.mat or annot_data.mat"
    with pytest.raises(DatasetError, match=match):
        prepare.build("mpi_inf_3dhp", raw, tmp_path / "again")


def test_3dhp_without_a_valid_frame_is_one_clear_error(tmp_path_factory, tmp_path):
    raw = copy_raw(tmp_path_factory, "mpi_inf_3dhp", tmp_path)
    for path in raw.glob("TS*/annot_data.mat"):
        with h5py.File(path, "r+") as f:
            f["valid_frame"][...] = 0
    with pytest.raises(DatasetError, match="mpi_inf_3dhp: the annotations .* give no example"):
        prepare.build("mpi_inf_3dhp", raw, tmp_path / "shards")


# ---- Human3.6M: the authors' sample test and targets ----


def test_h36m_sample_test_of_a_1000_frame_video(tmp_path):
    """GetH36M.py:48-52: test frames are i % 5 == 0, sample-test frames i % 200 == 0."""
    raw = tmp_path / "h36m"
    room = render.background(np.random.default_rng(0), h36m_raw.FRAME_SIZE, h36m_raw.FRAME_SIZE)
    palette = render.person_palette(np.random.default_rng(1))
    h36m_raw.write_video(raw, (9, 2, 1, 1), 200, 0, room, palette, num_frames=1000)
    builder = prepare.build("h36m", raw, tmp_path / "shards")  # from matlab_meta.mat
    assert set(builder.info.splits) == {"test", "test_sample"}
    version = tmp_path / "shards" / "h36m" / "1.0.0"
    test = read_split(version, "test", images=False)
    assert [int(e["frame"]) for e in test] == list(range(1, 1000, 5))
    sample = read_split(version, "test_sample", images=False)
    assert [int(e["frame"]) for e in sample] == [1, 201, 401, 601, 801]


def test_synthetic_test_videos_give_several_sample_frames():
    videos = h36m_raw.video_list(np.random.default_rng(0), 1600)  # the demo's size
    test = [count for key, count in videos if key[0] in skeleton.H36M_TEST_SUBJECTS]
    assert len(test) >= 2 and all(5 * (count - 1) + 1 >= 1001 for count in test)
    assert {key[0] for key, _ in videos} == set(h36m_raw.SUBJECTS)


def test_h36m_targets_root_at_the_released_joint_7_first():
    """fusion.lua:201-221 roots at joint 7 as released (the spine), scales and
    places; pose-hgreg-3d.lua:24 then sets joint 7 to the shoulders' mean, and
    line 32 draws no heatmap where the released x <= 1."""
    rng = np.random.default_rng(5)
    j3 = rng.normal(0, 150, (16, 3)) + [0, 0, 5000]
    j2 = j3[:, :2] / j3[:, 2:] * 1100 + 112 + rng.normal(0, 1, (16, 2))
    j2[4, 0] = 0.5  # a knee at the crop's left edge
    xy, depth, visible = targets.h36m_targets(j2, j3, 224)
    spine = 7
    k = sum(np.linalg.norm(j2[a] - j2[b]) for a, b in skeleton.BONES) / sum(
        np.linalg.norm(j3[a, :2] - j3[b, :2]) for a, b in skeleton.BONES
    )
    ref = (j3 - j3[spine]) * k + [j2[spine, 0], j2[spine, 1], 112]
    ref[spine] = (ref[12] + ref[13]) / 2
    np.testing.assert_allclose(xy, ref[:, :2], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(depth, ref[:, 2] / 224 * 2 - 1, atol=1e-6)
    np.testing.assert_array_equal(visible, np.arange(16) != 4)
    # Rooting at the shoulders' mean instead (the earlier code) shifts every depth.
    shoulders = (j3[12] + j3[13]) / 2
    assert abs((shoulders[2] - j3[spine, 2]) * k / 112) > 1e-3


# ---- MPII: the annotation files' forms ----


def test_mpii_annotated_is_x_above_zero_and_names_in_either_form():
    part = np.array([[[0.0, 121.0], [5.0, 0.0], [-1.0, -1.0], [0.0, 0.0], [3.0, 4.0]]])
    np.testing.assert_array_equal(mpii_layout.annotated(part), [[False, True, False, False, True]])
    as_bytes = np.array([b"000001163.jpg", b"072960618.jpg"], dtype="S13")
    codes = np.zeros((2, 16))
    for row, name in zip(codes, as_bytes, strict=True):
        row[: len(name)] = list(name)
    expected = ["000001163.jpg", "072960618.jpg"]
    assert mpii_layout.imgnames(as_bytes, Path("a.h5"), "") == expected
    assert mpii_layout.imgnames(codes, Path("a.h5"), "") == expected
    with pytest.raises(DatasetError, match="a.h5: field 'imgname' has dtype"):
        mpii_layout.imgnames(np.zeros((2, 3, 4)), Path("a.h5"), "")


# ---- Apache Beam ----


@pytest.mark.parametrize("name", ["h36m", "mpii", "mpi_inf_3dhp"])
def test_beam_path_writes_the_same_examples(tiny_raw, tiny_shards, tmp_path, name):  # noqa: F811
    """Same keys (positions) and features: the shards read back equal, split by split."""
    builder = prepare.build(name, tiny_raw / name, tmp_path, beam_flags=IN_PROCESS_BEAM)
    assert builder.use_beam
    for split in builder.info.splits:
        beam = read_split(tmp_path / name / "1.0.0", split)
        plain = read_split(tiny_shards / name / "1.0.0", split)
        _same_examples(beam, plain)


def test_beam_transform_yields_the_plain_keys_and_features(tiny_raw):  # noqa: F811
    import apache_beam as beam
    from apache_beam.testing.util import assert_that

    from datasets.mpii import mpii

    raw = tiny_raw / "mpii"
    builder = mpii.Mpii(data_dir=str(raw.parent / "unused"))
    annotations = builder.load(raw)
    plan = builder.plan(raw, annotations)
    expected = list(builder._generate_examples(raw, annotations, "train", plan["train"]))
    assert [key for key, _ in expected] == list(range(len(plan["train"])))

    def check(actual):
        actual = sorted(actual, key=lambda item: item[0])
        assert [k for k, _ in actual] == [k for k, _ in expected]
        _same_examples([f for _, f in actual], [f for _, f in expected])

    with beam.Pipeline(options=prepare.beam_options(flags=IN_PROCESS_BEAM)) as pipeline:
        out = pipeline | common.beam_examples("mpii", raw, "train", plan["train"], False)
        assert_that(out, check)


def test_beam_bad_image_is_one_clear_error(tmp_path_factory, tmp_path):
    raw = copy_raw(tmp_path_factory, "mpi_inf_3dhp", tmp_path)
    valid = np.flatnonzero(_numbers(raw / "TS3" / "annot_data.mat")["valid_frame"][:, 0])
    image = raw / "TS3" / "imageSequence" / f"img_{valid[0] + 1:06d}.jpg"
    image.write_bytes(image.read_bytes()[:1000])
    with pytest.raises(DatasetError, match=f"{image.name} is truncated"):
        prepare.build("mpi_inf_3dhp", raw, tmp_path / "shards", beam_flags=IN_PROCESS_BEAM)


def test_prepare_workers_runs_beam_in_processes(tiny_raw, tiny_shards, tmp_path):  # noqa: F811
    """--workers 2: Beam's DirectRunner with two worker processes."""
    root = tmp_path / "raw"
    root.mkdir()
    shutil.copytree(tiny_raw / "mpi_inf_3dhp", root / "mpi_inf_3dhp")
    prepare.main(["--raw_dir", str(root), "--data_dir", str(tmp_path / "s"), "--workers", "2"])
    _same_examples(
        read_split(tmp_path / "s" / "mpi_inf_3dhp" / "1.0.0", "test"),
        read_split(tiny_shards / "mpi_inf_3dhp" / "1.0.0", "test"),
    )


def test_tfds_command_builds_a_dataset_folder(tiny_raw, tiny_shards, tmp_path):  # noqa: F811
    """`tfds build datasets/<name> --manual_dir ... --data_dir ...` (needs apache-beam)."""
    tfds_command = Path(sys.executable).parent / "tfds"
    if not tfds_command.is_file():
        pytest.skip(f"no {tfds_command}")
    result = subprocess.run(
        [str(tfds_command), "build", "datasets/mpi_inf_3dhp",
         "--manual_dir", str(tiny_raw / "mpi_inf_3dhp"), "--data_dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    _same_examples(
        read_split(tmp_path / "mpi_inf_3dhp" / "1.0.0", "test"),
        read_split(tiny_shards / "mpi_inf_3dhp" / "1.0.0", "test"),
    )
