import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sk3dmm import __version__
from sk3dmm.cli import UsageError, collect_photos, main


@pytest.fixture
def photo_and_bad(tmp_path, astronaut):
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(photo)
    bad = tmp_path / "bad.jpg"
    bad.write_text("x")
    return photo, bad


@pytest.fixture
def photo_folder(tmp_path, astronaut):
    """A folder as people have them: a photo, a truncated JPEG, a text file, a hidden file, a
    faceless image, and a subfolder (plus a hidden one) with another photo."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    (root / ".thumbs").mkdir()
    Image.fromarray(astronaut).save(root / "astronaut.png")
    jpeg = io.BytesIO()
    Image.fromarray(astronaut).save(jpeg, "JPEG")
    (root / "broken.jpg").write_bytes(jpeg.getvalue()[:300])  # a download cut short
    (root / "notes.txt").write_text("not a photo")
    Image.fromarray(astronaut).save(root / ".hidden.png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(root / "grey.BMP")
    Image.fromarray(astronaut).save(root / "sub" / "again.PNG")  # same pixels: a cache hit
    Image.fromarray(astronaut).save(root / ".thumbs" / "t.png")
    return root


def test_folders_are_walked_for_image_files_sorted(photo_folder, tmp_path):
    root = photo_folder
    assert collect_photos([str(root)]) == [root / "astronaut.png", root / "broken.jpg", root / "grey.BMP"]
    assert collect_photos([str(root)], recursive=True) == [
        root / "astronaut.png",
        root / "broken.jpg",
        root / "grey.BMP",
        root / "sub" / "again.PNG",
    ]
    # files are taken as given, whatever their extension, in the order given
    assert collect_photos([str(root / "notes.txt"), str(root / "sub")]) == [
        root / "notes.txt",
        root / "sub" / "again.PNG",
    ]
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    with pytest.raises(UsageError, match="no image files in folder .*nested; pass --recursive"):
        collect_photos([str(tmp_path / "nested")])
    with pytest.raises(UsageError, match="no such file or folder"):
        collect_photos([str(tmp_path / "missing.jpg")])


def test_reconstruct_folder_keeps_good_rows_and_exits_1(photo_folder, tmp_path, capsys):
    out = tmp_path / "coefs.csv"
    assert main(["reconstruct", str(photo_folder), "-o", str(out), "-q"]) == 1
    df = pd.read_csv(out, keep_default_na=False, na_values=[""])
    names = [p.rsplit("/", 1)[-1] for p in df["path"]]
    assert names == ["astronaut.png", "broken.jpg", "grey.BMP"]
    assert df["alpha_0"].notna().tolist() == [True, False, False]
    reasons = df["reason"].fillna("").tolist()
    assert reasons[0] == "" and "not a readable image" in reasons[1] and reasons[2] == "no face detected"
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"sk3dmm: failed: {photo_folder / 'broken.jpg'}: {reasons[1]}",
        f"sk3dmm: failed: {photo_folder / 'grey.BMP'}: no face detected",
    ]
    assert main(["reconstruct", str(photo_folder), "-r", "-o", str(out), "-q", "--on-error", "nan"]) == 1
    df = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert df["path"].iloc[-1].endswith("again.PNG") and df["alpha_0"].notna().tolist() == [
        True,
        False,
        False,
        True,
    ]
    # the same photo twice; measured 0.0 apart
    np.testing.assert_allclose(df.iloc[3, 1:101].to_numpy(float), df.iloc[0, 1:101].to_numpy(float))
    assert capsys.readouterr().err == ""  # nan: reasons only in the table
    assert main(["reconstruct", str(photo_folder / "sub"), "-o", str(out), "-q"]) == 0


def test_progress_only_on_a_terminal(photo_and_bad, tmp_path, capsys, monkeypatch):
    photo, bad = photo_and_bad
    argv = ["reconstruct", str(photo), str(bad), "-o", str(tmp_path / "c.csv")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "reconstruct:" not in err and "\r" not in err  # captured stderr is no terminal: no bar
    assert err.splitlines() == [f"sk3dmm: failed: {bad}: not a readable image (unknown or corrupt format)"]
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "reconstruct: 100%" in err  # a person watching gets the bar ...
    assert re.search(
        r"\n(sk3dmm: failed: .*bad\.jpg: not a readable image.*)\n$", err
    )  # ... reasons below it
    assert main([*argv, "-q"]) == 1 and "reconstruct:" not in capsys.readouterr().err


def test_reconstruct_writes_csv_parquet_overlay_and_reasons(tmp_path, photo_and_bad, capsys):
    photo, bad = photo_and_bad
    out = tmp_path / "coefs.csv"
    argv = ["reconstruct", str(photo), str(bad), "-o", str(out), "-q", "--on-error", "warn"]
    assert main([*argv, "--overlay-dir", str(tmp_path)]) == 1  # a photo failed: status 1, table written
    df = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert df.shape[0] == 2 and df["path"][0] == str(photo)
    assert df["alpha_0"].notna().tolist() == [True, False]
    assert df["reason"].fillna("").tolist() == ["", "not a readable image (unknown or corrupt format)"]
    assert (tmp_path / "astronaut_overlay.png").stat().st_size > 10_000  # measured 441,817 bytes
    captured = capsys.readouterr()
    assert "1 of 2 photos reconstructed" in captured.out
    assert captured.err.count("not a readable image") == 1  # each reason once
    assert main([*argv, "--strict"]) == 1  # --strict (now the default) is still accepted
    pq = tmp_path / "coefs.parquet"
    assert main(["reconstruct", str(photo), "-o", str(pq), "-q", "--coef", "beta"]) == 0
    df = pd.read_parquet(pq)
    assert "beta_jawOpen" in df and "alpha_0" not in df


def test_errors_are_one_line_and_early(tmp_path, photo_and_bad, capsys, monkeypatch):
    photo, bad = photo_and_bad
    # the output and the inputs are checked before any photo is read: no reconstruction may run
    monkeypatch.setattr("sk3dmm.transformers.Reconstruct3DMM.to_frame", lambda *a: pytest.fail("work done"))
    for output, inputs, message in [
        (tmp_path / "missing" / "c.csv", [photo], "folder .*missing does not exist"),
        (tmp_path / "c.txt", [photo], "must end in .csv or .parquet"),
        (tmp_path / "c.csv", [photo, tmp_path / "typo.jpg"], "typo.jpg: no such file or folder"),
    ]:
        assert main(["reconstruct", *map(str, inputs), "-o", str(output), "-q"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert re.search(message, err)
    monkeypatch.undo()
    # --on-error raise: the first bad photo stops, in one line, with the status of a failed photo
    assert main(["reconstruct", str(bad), "-o", str(tmp_path / "c.csv"), "-q", "--on-error", "raise"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sk3dmm: error: sample 0 (") and "--on-error warn" in err and err.count("\n") == 1
    assert not (tmp_path / "c.csv").exists()
    assert (
        main(["reconstruct", str(photo), "-q", "--method", "rnet", "--weights", str(tmp_path / "w.pt")]) == 2
    )
    assert "w.pt: file not found" in capsys.readouterr().err


def test_version_and_defaults_match_the_class(capsys):
    from sk3dmm import Reconstruct3DMM
    from sk3dmm.cli import build_parser

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and __version__ in capsys.readouterr().out
    args = build_parser().parse_args(["reconstruct", "x.jpg"])
    params = Reconstruct3DMM().get_params()
    assert args.method == params["method"] and args.detector == params["detector"]
    assert tuple(args.coef) == tuple(params["coef"])
    assert args.on_error == "warn"  # the one deliberate difference: a batch goes on past bad photos
    for command in ("reconstruct", "points", "overlay", "mesh"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "exit status:\n  0 " in capsys.readouterr().out


def test_points_table(photo_folder, tmp_path, capsys):
    out = tmp_path / "points.csv"
    assert main(["points", str(photo_folder), "-r", "--out", str(out)]) == 1
    df = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert df.columns.tolist() == ["path", "point", "x", "y", "z", "reason"]
    assert len(df) == 2 * 478 + 2  # two photos with faces, one row per failed photo
    good = df[df["reason"].isna()]
    assert good.groupby("path")["point"].apply(list).map(lambda p: p == list(range(478))).all()
    assert good[["x", "y", "z"]].notna().all().all()
    assert good["x"].between(0, 512).all() and good["y"].between(0, 512).all()
    first = good[good["path"].str.endswith("astronaut.png")]
    # on the astronaut's face; measured x 225, y 123
    assert 150 < first["x"].mean() < 300 and 80 < first["y"].mean() < 200
    bad = df[df["reason"].notna()]
    assert bad["path"].str.rsplit("/", n=1).str[-1].tolist() == ["broken.jpg", "grey.BMP"]
    assert bad[["point", "x", "y", "z"]].isna().all().all()
    assert "wrote" in capsys.readouterr().out


def test_overlay_sheet(photo_folder, tmp_path, capsys):
    sheet = tmp_path / "sheet.jpg"
    assert main(["overlay", str(photo_folder), "--sheet", str(sheet), "-q", "--thumb-size", "96"]) == 1
    with Image.open(sheet) as im:
        im.verify()
    with Image.open(sheet) as im:
        assert im.format == "JPEG" and im.width >= 3 * 96 - 10 and im.height >= 96
        pixels = np.asarray(im.convert("RGB")).astype(int)
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 110) & (pixels[..., 2] < 110)  # through JPEG
    # failures red; measured 1,459 red pixels right of the first third, 4 in it
    assert red[:, pixels.shape[1] // 3 :].sum() > 500 and red[:, : pixels.shape[1] // 3].sum() < 50
    captured = capsys.readouterr()
    assert (
        "1 of 3 photos reconstructed, 2 failed" in captured.out and captured.err.count("sk3dmm: failed:") == 2
    )
    assert main(["overlay", str(photo_folder), "--sheet", str(tmp_path / "s.gif"), "-q"]) == 2
