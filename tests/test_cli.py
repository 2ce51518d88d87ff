import pandas as pd
import pytest
from PIL import Image

from sk3dmm import __version__
from sk3dmm.cli import main


@pytest.fixture
def photo_and_bad(tmp_path, astronaut):
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(photo)
    bad = tmp_path / "bad.jpg"
    bad.write_text("x")
    return photo, bad


def test_reconstruct_writes_csv_parquet_overlay_and_reasons(tmp_path, photo_and_bad, capsys):
    photo, bad = photo_and_bad
    out = tmp_path / "coefs.csv"
    argv = ["reconstruct", str(photo), str(bad), "-o", str(out), "-q", "--on-error", "warn"]
    assert main([*argv, "--overlay-dir", str(tmp_path)]) == 0
    df = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert df.shape[0] == 2 and df["path"][0] == str(photo)
    assert df["alpha_0"].notna().tolist() == [True, False]
    assert df["reason"].fillna("").tolist() == ["", "not a readable image (unknown or corrupt format)"]
    assert (tmp_path / "astronaut_overlay.png").stat().st_size > 10_000
    captured = capsys.readouterr()
    assert "1 of 2 photos reconstructed" in captured.out
    assert captured.err.count("not a readable image") == 1  # each reason once
    assert main([*argv, "--strict"]) == 1  # --strict: any failure is a failing exit
    pq = tmp_path / "coefs.parquet"
    assert main(["reconstruct", str(photo), "-o", str(pq), "-q", "--coef", "beta"]) == 0
    df = pd.read_parquet(pq)
    assert "beta_jawOpen" in df and "alpha_0" not in df


def test_errors_are_one_line_and_early(tmp_path, photo_and_bad, capsys, monkeypatch):
    photo, bad = photo_and_bad
    # the output is checked before any photo is read: no reconstruction may run
    monkeypatch.setattr("sk3dmm.transformers.Reconstruct3DMM.to_frame", lambda *a: pytest.fail("work done"))
    for output, message in [
        (tmp_path / "missing" / "c.csv", "folder .*missing does not exist"),
        (tmp_path / "c.txt", "must end in .csv or .parquet"),
    ]:
        assert main(["reconstruct", str(photo), "-o", str(output), "-q"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert pytest.importorskip("re").search(message, err)
    monkeypatch.undo()
    # the class default on_error="raise": the first bad photo stops, in one line
    assert main(["reconstruct", str(bad), "-o", str(tmp_path / "c.csv"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sk3dmm: error: sample 0 (") and "--on-error warn" in err and err.count("\n") == 1
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
    assert args.on_error == params["on_error"] and tuple(args.coef) == tuple(params["coef"])


def test_demo_main_job(tmp_path, capsys):
    assert main(["demo", "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / "coefficients.csv").is_file() and (tmp_path / "astronaut_overlay.png").is_file()
    assert "reprojection error" in capsys.readouterr().out
