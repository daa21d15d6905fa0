"""Window planning for long sequences."""
import numpy as np

from app.core.windows import Window, assign_positions, plan_windows


def test_short_sequence_is_one_window():
    assert plan_windows(50, 1022) == [Window(0, 50)]


def test_long_sequence_windows_cover_and_overlap():
    ws = plan_windows(2500, 1022)
    assert ws[0].start == 0 and ws[-1].end == 2500
    assert all(len(w) == 1022 for w in ws)
    for a, b in zip(ws, ws[1:]):
        assert b.start < a.end  # overlapping
    assert [w.start for w in ws] == [0, 511, 1022, 1478]


def test_each_position_goes_to_the_most_central_window():
    ws = plan_windows(40, 16, overlap=8)
    owner = assign_positions(40, ws)
    for i, k in enumerate(owner):
        w = ws[k]
        assert w.start <= i < w.end
        best = min(abs(i - v.center) for v in ws if v.start <= i < v.end)
        assert abs(i - w.center) == best
    # interior positions keep context on both sides
    assert all(min(i - ws[k].start, ws[k].end - 1 - i) >= 4 for i, k in enumerate(owner)
               if 4 <= i < 36)
    assert np.all(np.diff(owner) >= 0)
