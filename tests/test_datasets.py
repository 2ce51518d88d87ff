import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sk3dmm.datasets import (
    MisnamedFileWarning,
    expression_weights,
    load_fei,
    load_kdef,
    make_synthetic_faces,
    write_kdef_folder,
)


@pytest.fixture(scope="module")
def small_set():
    return make_synthetic_faces(2, image_size=96, random_state=7)


def test_synthetic_faces_layout_and_ground_truth(small_set, ict):
    f = small_set
    assert f.images.shape == (70, 96, 96, 3) and f.images.dtype == np.uint8
    assert len(f.frame) == 70 and f.alpha.shape == (70, 100) and f.beta.shape == (70, 53)
    assert f.frame["identity"].unique().tolist() == ["AF01", "AM01"]
    assert sorted(f.frame["expression"].unique()) == [
        "afraid",
        "angry",
        "disgusted",
        "happy",
        "neutral",
        "sad",
        "surprised",
    ]
    # identity is shared by every photo of a person; expressions follow their recipe
    first = f.frame["identity"] == "AF01"
    assert np.ptp(f.alpha[first.to_numpy()], axis=0).max() == 0
    happy = (f.frame["expression"] == "happy").to_numpy()
    smile = ict.expression_names.index("mouthSmile_L")
    assert f.beta[happy, smile].min() > 0.5 > f.beta[~happy, smile].max()  # measured 0.68 and 0.10
    # yaw follows the KDEF angle codes within the jitter (angle_jitter=3.0; measured 2.99 at most)
    expected = f.frame["angle"].map({"FL": -90, "HL": -45, "S": 0, "HR": 45, "FR": 90})
    assert (np.abs(f.frame["yaw"] - expected) <= 3.0).all()
    # faces are drawn: frontal images differ from their background in the middle
    frontal = (f.frame["angle"] == "S").to_numpy()
    centre = f.images[frontal, 40:56, 40:56].astype(float)
    assert np.abs(centre - f.images[frontal, :4, :4].mean((1, 2), keepdims=True)).mean() > 10  # measured 74


def test_synthetic_faces_are_deterministic(small_set):
    again = make_synthetic_faces(2, image_size=96, random_state=7)
    np.testing.assert_array_equal(again.images, small_set.images)
    np.testing.assert_array_equal(again.gamma, small_set.gamma)
    other = make_synthetic_faces(1, image_size=96, random_state=8, expressions=("NE",), angles=("S",))
    assert not np.array_equal(other.alpha[0], small_set.alpha[0])


def test_true_landmarks_sit_on_the_rendered_face(small_set):
    f = small_set
    frontal = np.flatnonzero((f.frame["angle"] == "S").to_numpy())
    for i in frontal[:3]:
        nose = np.round(f.landmarks[i, 30]).astype(int)
        bg = f.images[i, 2, 2].astype(int)
        assert np.abs(f.images[i, nose[1], nose[0]].astype(int) - bg).sum() > 15  # measured 65 at least


def test_expression_weights_reject_unknown_shapes(ict):
    assert expression_weights(ict, "neutral", 1.0).sum() == 0
    with pytest.raises(ValueError, match="unknown KDEF codes"):
        make_synthetic_faces(1, expressions=("XX",))


def test_load_kdef_reads_what_the_generator_wrote(tmp_path, small_set):
    write_kdef_folder(small_set, tmp_path)
    assert (tmp_path / "AF01" / "AF01AFS.JPG").is_file()
    kdef = load_kdef(tmp_path, target="expression", load_images=True)
    by_name = kdef.frame.set_index(kdef.frame["path"].map(lambda p: p.split("/")[-1]))
    truth = small_set.frame.set_index("filename")
    joined = truth.join(by_name.add_suffix("_kdef"))
    assert len(joined) == 70 and joined["path_kdef"].notna().all()
    assert (joined["expression"] == joined["expression_kdef"]).all()
    assert (joined["angle"] == joined["angle_kdef"]).all()
    assert (joined["gender"] == joined["gender_kdef"]).all()
    assert (joined["identity"].str[1:] == joined["identity_kdef"]).all()
    assert len(kdef.images) == 70 and kdef.images[0].shape == (96, 96, 3)
    frontal = load_kdef(tmp_path, target="identity", angles=("S",))
    assert len(frontal.frame) == 14 and set(frontal.target) == {"F01", "M01"}


def test_load_kdef_rejects_misnamed_files(tmp_path):
    img = Image.fromarray(np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "AF01").mkdir()
    img.save(tmp_path / "AF01" / "AF01HAS.JPG")
    img.save(tmp_path / "AF01" / "AF01XXS.JPG")  # unknown expression code
    img.save(tmp_path / "AF01" / "AM02HAS.JPG")  # another person's photo in AF01/
    with pytest.warns(MisnamedFileWarning, match="2 files do not follow KDEF"):
        kdef = load_kdef(tmp_path)
    assert kdef.frame["path"].str.endswith("AF01HAS.JPG").all()
    with pytest.raises(ValueError, match=r"AF01XXS.JPG: name is not"):
        load_kdef(tmp_path, on_mismatch="raise")
    with pytest.raises(ValueError, match="target must be"):
        load_kdef(tmp_path, target="mood")


def _fei_tree(root):
    img = Image.fromarray(np.zeros((20, 20, 3), np.uint8))
    for part, people in (("originalimages_part1", (1, 2)), ("originalimages_part2", (101,))):
        (root / part).mkdir()
        for person in people:
            for pose in (1, 11, 14):
                img.save(root / part / f"{person}-{pose:02d}.jpg")


def test_load_fei_with_gender_file(tmp_path):
    _fei_tree(tmp_path)
    csv = tmp_path / "gender.csv"
    pd.DataFrame({"person": [1, 2, 101], "gender": ["male", "female", "male"]}).to_csv(csv, index=False)
    fei = load_fei(tmp_path, gender=csv)
    assert len(fei.frame) == 9
    assert (
        fei.frame.set_index("path").loc[str(tmp_path / "originalimages_part1" / "2-11.jpg"), "gender"]
        == "female"
    )
    assert sorted(fei.target_names) == ["female", "male"]
    frontal = load_fei(tmp_path, target="identity", poses=(11,))
    assert frontal.frame["pose"].eq(11).all() and len(frontal.frame) == 3


def test_load_fei_refuses_to_guess_gender_and_rejects_misnamed(tmp_path):
    _fei_tree(tmp_path)
    with pytest.raises(ValueError, match="carry no gender"):
        load_fei(tmp_path)
    with pytest.raises(ValueError, match=r"no label for persons \[101\]"):
        load_fei(tmp_path, gender={1: "male", 2: "female"})
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(tmp_path / "originalimages_part1" / "1-15.jpg")
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(tmp_path / "originalimages_part1" / "face 3.jpg")
    with pytest.warns(MisnamedFileWarning, match="2 files do not follow FEI"):
        load_fei(tmp_path, target="pose")
    with pytest.raises(ValueError, match="1-15.jpg: person 1 or pose 15"):
        load_fei(tmp_path, target="pose", on_mismatch="raise")


def test_degrade_photos_records_what_it_did(small_set):
    from sk3dmm.datasets import degrade_photos

    out, frame = degrade_photos(small_set.images[:20], fraction=0.5, random_state=0)
    assert frame["degradation"].value_counts().to_dict() == {"none": 10, "occluded": 5, "blurred": 5}
    changed = np.abs(out.astype(int) - small_set.images[:20]).reshape(20, -1).max(1) > 0
    assert (changed == (frame["degradation"] != "none")).all()


def test_repeats_give_more_photos_per_combination():
    f = make_synthetic_faces(1, image_size=48, expressions=("HA",), angles=("S",), repeats=3, random_state=0)
    assert len(f.frame) == 3 and len(set(f.gamma[:, 0])) == 3


@pytest.mark.parametrize("layout", ["per_person", "flat", "lower_case", "kdef_and_akdef"])
def test_load_kdef_layouts_people_have(tmp_path, layout):
    img = Image.fromarray(np.zeros((20, 20, 3), np.uint8))
    names = ["AF01AFS.JPG", "AF01HAHL.JPG", "BM02NEFR.JPG", "AM02SUS.JPG"]  # a few, others "missing"
    root = tmp_path / "KDEF_and_AKDEF" / "KDEF" if layout == "kdef_and_akdef" else tmp_path
    for name in names:
        folder = root if layout == "flat" else root / name[:4]
        folder.mkdir(parents=True, exist_ok=True)
        fname = name.lower() if layout == "lower_case" else name
        img.save(folder / fname, format="JPEG")
    if layout == "kdef_and_akdef":  # AKDEF's averaged faces do not follow KDEF's names
        (tmp_path / "KDEF_and_AKDEF" / "AKDEF").mkdir()
        img.save(tmp_path / "KDEF_and_AKDEF" / "AKDEF" / "AFAFS.JPG", format="JPEG")
        with pytest.warns(MisnamedFileWarning, match="AFAFS.JPG"):
            kdef = load_kdef(tmp_path / "KDEF_and_AKDEF")
    else:
        kdef = load_kdef(tmp_path)
    frame = kdef.frame.sort_values("path").reset_index(drop=True)
    by_file = {p.split("/")[-1].upper(): row for p, row in zip(frame["path"], frame.itertuples())}
    assert sorted(by_file) == sorted(names)
    assert by_file["AF01AFS.JPG"].expression == "afraid" and by_file["AF01AFS.JPG"].angle == "S"
    assert by_file["AF01HAHL.JPG"].expression == "happy" and by_file["AF01HAHL.JPG"].angle == "HL"
    assert by_file["BM02NEFR.JPG"].identity == "M02" and by_file["BM02NEFR.JPG"].session == "B"
    assert by_file["AM02SUS.JPG"].gender == "male"


def test_load_kdef_never_mislabels_a_file_in_the_wrong_person_folder(tmp_path):
    img = Image.fromarray(np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "af01").mkdir()
    img.save(tmp_path / "af01" / "af01has.jpg", format="JPEG")
    img.save(tmp_path / "af01" / "AM05HAS.JPG", format="JPEG")
    with pytest.warns(MisnamedFileWarning, match="file of AM05 inside folder af01"):
        kdef = load_kdef(tmp_path)
    assert kdef.frame["identity"].tolist() == ["F01"]
