"""Replay filter: sliding window per (sender, epoch)."""

from arcade_p2p.protocol.replay import ReplayFilter


def test_fresh_replayed_and_out_of_order() -> None:
    f = ReplayFilter()
    assert f.accept(1, 9, 0)
    assert not f.accept(1, 9, 0)
    assert f.accept(1, 9, 5)
    assert f.accept(1, 9, 3)  # late but inside the window
    assert not f.accept(1, 9, 3)
    assert f.accept(1, 9, 200)
    assert not f.accept(1, 9, 100)  # too old for the window
    assert f.accept(1, 10, 0)  # a new run of the same sender
    assert f.accept(2, 9, 0)


def test_windows_are_bounded() -> None:
    f = ReplayFilter(max_windows=4)
    for sender in range(10):
        assert f.accept(sender, 0, 0)
    assert len(f) == 4
