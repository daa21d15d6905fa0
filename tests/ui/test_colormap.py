"""Colour-map maths: centring, clipping, interpolation, scale limit and ticks."""
import numpy as np
import pytest

from app.ui.colormap import (NAN_RGB, RDBU_ANCHORS, diverging_rgb, nice_step, normalise,
                             symmetric_limit, ticks)


def test_zero_is_the_white_centre_and_ends_are_the_extreme_anchors():
    rgb = diverging_rgb(np.array([-2.0, 0.0, 2.0]), vmax=2.0)
    assert tuple(rgb[0]) == tuple(RDBU_ANCHORS[0].astype(int))
    assert tuple(rgb[1]) == (247, 247, 247)
    assert tuple(rgb[2]) == tuple(RDBU_ANCHORS[-1].astype(int))


def test_values_beyond_the_scale_are_clipped_to_the_ends():
    rgb = diverging_rgb(np.array([-50.0, -2.0, 2.0, 1e9]), vmax=2.0)
    assert (rgb[0] == rgb[1]).all() and (rgb[2] == rgb[3]).all()


def test_sign_sets_the_hue_red_negative_blue_positive():
    x = np.linspace(-1, 1, 41)
    rgb = diverging_rgb(x, 1.0).astype(int)
    neg, pos = rgb[x < -0.05], rgb[x > 0.05]
    assert (neg[:, 0] > neg[:, 2]).all()
    assert (pos[:, 2] > pos[:, 0]).all()


def test_linear_interpolation_between_anchors():
    # 11 anchors on [-1, 1]: anchor k sits at t = -1 + k / 5; halfway between 0 and 1 is -0.9
    rgb = diverging_rgb(np.array([-0.9]), 1.0)[0].astype(float)
    expected = (RDBU_ANCHORS[0] + RDBU_ANCHORS[1]) / 2
    assert np.abs(rgb - expected).max() <= 0.5


def test_nan_is_grey_and_shape_is_kept():
    scores = np.array([[0.0, np.nan], [1.0, -1.0]])
    rgb = diverging_rgb(scores, 1.0)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 1]) == NAN_RGB


def test_normalise_rejects_a_non_positive_scale():
    with pytest.raises(ValueError, match="half-width"):
        normalise(np.zeros(3), 0.0)


def test_symmetric_limit_uses_a_percentile_of_absolute_values():
    values = np.concatenate([np.linspace(-1, 1, 201), [100.0], [np.nan]])
    v = symmetric_limit(values, percentile=99.0)
    assert 0.9 < v < 1.01  # the one outlier (100) does not set the scale
    assert symmetric_limit(values, percentile=100.0) == 100.0
    assert symmetric_limit(np.full(4, np.nan)) == 1.0
    assert symmetric_limit(np.zeros(5)) == 1.0


@pytest.mark.parametrize("vmax", [0.37, 1.0, 2.9, 7.5, 13.0, 250.0])
def test_ticks_are_symmetric_nice_and_inside_the_scale(vmax):
    t = ticks(vmax)
    assert 0.0 in t
    assert t == [-x for x in reversed(t)]  # symmetric about 0
    assert max(t) <= vmax + 1e-9 and len(t) >= 3
    step = t[1] - t[0]
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5))


def test_nice_step_values():
    assert nice_step(10.0, 5) == 5.0
    assert nice_step(3.0, 5) == 2.0
    assert nice_step(0.4, 5) == 0.2
