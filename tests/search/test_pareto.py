import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from epim.search import hypervolume, non_dominated


def brute_force_front(points: np.ndarray) -> set[int]:
    keep = set()
    for i, p in enumerate(points):
        dominated = any(np.all(q <= p) and np.any(q < p) for q in points)
        duplicate_before = any(np.array_equal(points[j], p) for j in range(i))
        if not dominated and not duplicate_before:
            keep.add(i)
    return keep


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)),
                min_size=1, max_size=25))
def test_non_dominated_matches_brute_force(rows: list[tuple[int, int, int]]) -> None:
    points = np.array(rows, dtype=float)
    assert set(non_dominated(points).tolist()) == brute_force_front(points)


def test_hypervolume_known_values() -> None:
    assert hypervolume([[0.5, 0.5]], [1, 1]) == 0.25
    assert abs(hypervolume([[0.2, 0.8], [0.5, 0.5], [0.8, 0.2]], [1, 1]) - 0.37) < 1e-12
    assert hypervolume([[2.0, 0.1]], [1, 1]) == 0.0  # outside the reference box
    assert abs(hypervolume([[0, 0, 0]], [1, 2, 3]) - 6.0) < 1e-12


def test_hypervolume_3d_against_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    points = rng.random((30, 3))
    samples = rng.random((200_000, 3))
    dominated = (samples[:, None, :] >= points[None]).all(-1).any(1).mean()
    assert abs(hypervolume(points, [1, 1, 1]) - dominated) < 0.005
