"""Head angles in the order of AFLW2000-3D (3DDFA's ``Pose_Para``): the same rotation."""

import numpy as np
import torch

from sk3dmm.fitting import euler_to_matrix
from sk3dmm.fitting._camera import FLIP_DIAG
from sk3dmm.metrics import pitch_yaw_roll


def _3ddfa_matrix(pitch, yaw, roll):
    """3DDFA's ``angle2matrix``: ``Rx Ry Rz`` with its own sign convention (radians)."""
    cx, sx, cy, sy, cz, sz = (
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
        np.cos(roll),
        np.sin(roll),
    )
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def test_the_angles_give_the_same_rotation_in_3ddfa_s_order():
    pose = np.random.default_rng(0).uniform([-89, -60, -60], [89, 60, 60], (200, 3))
    ours = euler_to_matrix(*torch.deg2rad(torch.tensor(pose)).T).numpy()
    ours = np.asarray(FLIP_DIAG)[:, None] * ours  # the model's frame, before the camera's flip
    theirs = np.stack([_3ddfa_matrix(*np.deg2rad(a)) for a in pitch_yaw_roll(pose)])
    np.testing.assert_allclose(theirs, ours, atol=1e-12)


def test_near_the_frontal_view_the_orders_agree_and_far_from_it_they_do_not():
    near = pitch_yaw_roll(np.array([[3.0, -2.0, 1.5]]))[0]
    np.testing.assert_allclose(near, [2.0, -3.0, -1.5], atol=0.2)  # opposite signs, (pitch, yaw, roll)
    far = pitch_yaw_roll(np.array([[80.0, 20.0, 0.0]]))[0]
    assert abs(far[2]) > 15  # the pitch of a turned head is largely roll in the x-y-z order
