import numpy as np
import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def ict():
    from sk3dmm import load_ict_model

    return load_ict_model()


@pytest.fixture(scope="session")
def astronaut():
    from skimage.data import astronaut

    return astronaut()


@pytest.fixture(scope="session")
def face_photos(astronaut):
    """Eight different real photos of one face: crops, flips, scales and brightness."""
    from PIL import Image

    out = []
    for crop, flip, scale, gain in [
        (0, False, 1.0, 1.0),
        (40, False, 1.0, 0.8),
        (0, True, 0.8, 1.0),
        (60, True, 1.2, 1.1),
        (20, False, 0.9, 0.9),
        (30, True, 1.0, 1.2),
        (10, False, 1.1, 0.7),
        (50, True, 0.9, 1.0),
    ]:
        img = astronaut[crop : 400 + crop // 2, crop // 2 : 420 + crop]
        if flip:
            img = img[:, ::-1]
        img = np.asarray(
            Image.fromarray(np.ascontiguousarray(img)).resize(
                (int(img.shape[1] * scale), int(img.shape[0] * scale))
            )
        )
        out.append(np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    return out


def corrupt_copy(src, dst, position: float = 0.5):
    """Copy a file with one byte flipped (a truncated download or a bad disk, in miniature)."""
    data = bytearray(open(src, "rb").read())
    data[int(len(data) * position)] ^= 0xFF
    open(dst, "wb").write(bytes(data))
    return dst
