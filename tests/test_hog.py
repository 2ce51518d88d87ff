"""HOGFeatures: the classical baseline as a scikit-learn transformer."""

import numpy as np
import pytest
from sklearn.base import clone

from sk3dmm import HOGFeatures


def test_hog_rows_of_face_crops(astronaut):
    crops = [astronaut[0:224, 150:374], np.ascontiguousarray(astronaut[0:224, 150:374, ::-1])]
    est = HOGFeatures()
    rows = est.fit_transform(crops)
    assert rows.shape == (2, 27 * 27 * 36) == (2, est.n_features_out_) and rows.dtype == np.float32
    assert np.isfinite(rows).all() and (rows >= 0).all() and rows.std() > 0
    assert not np.allclose(rows[0], rows[1])  # colour order changes grey levels
    from skimage.color import rgb2gray
    from skimage.feature import hog

    np.testing.assert_allclose(rows[0], hog(rgb2gray(crops[0]), 9, (8, 8), (2, 2)), rtol=1e-6)
    small = HOGFeatures(size=64).fit_transform(crops + [astronaut])  # any size once resized
    assert small.shape == (3, 7 * 7 * 36)
    assert clone(est).get_params() == est.get_params()
    frame = HOGFeatures(size=64).set_output(transform="pandas").fit_transform(crops)
    assert list(frame.columns[:2]) == ["hog0", "hog1"]


def test_hog_errors_name_the_crop(astronaut):
    est = HOGFeatures().fit([astronaut[:224, :224]])
    with pytest.raises(ValueError, match="crop 1"):
        est.transform([astronaut[:224, :224], astronaut])
    with pytest.raises(ValueError, match="crop 0"):
        HOGFeatures().fit([np.zeros(5)])
    with pytest.raises(ValueError):
        HOGFeatures(size=4).fit([astronaut])
