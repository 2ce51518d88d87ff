import pandas as pd
from PIL import Image

from sk3dmm.cli import main


def test_reconstruct_writes_csv_parquet_and_overlay(tmp_path, astronaut, capsys):
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(photo)
    bad = tmp_path / "bad.jpg"
    bad.write_text("x")
    out = tmp_path / "coefs.csv"
    assert (
        main(["reconstruct", str(photo), str(bad), "-o", str(out), "-q", "--overlay-dir", str(tmp_path)]) == 0
    )
    df = pd.read_csv(out)
    assert df.shape[0] == 2 and df["path"][0] == str(photo)
    assert df["alpha_0"].notna().tolist() == [True, False]
    assert (tmp_path / "astronaut_overlay.png").stat().st_size > 10_000
    assert "1 of 2 photos reconstructed" in capsys.readouterr().out
    pq = tmp_path / "coefs.parquet"
    assert main(["reconstruct", str(photo), "-o", str(pq), "-q", "--coef", "beta"]) == 0
    df = pd.read_parquet(pq)
    assert "beta_jawOpen" in df and "alpha_0" not in df


def test_demo_main_job(tmp_path, capsys):
    assert main(["demo", "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / "coefficients.csv").is_file() and (tmp_path / "astronaut_overlay.png").is_file()
    assert "reprojection error" in capsys.readouterr().out
