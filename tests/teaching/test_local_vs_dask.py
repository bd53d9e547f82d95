"""The side-by-side scenario: the same tasks on local workers and on a Dask LocalCluster."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed", reason="the Dask backend needs: pip install -e '.[dask]'")

from app.teaching.compare import run_side_by_side

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def test_both_backends_end_as_documented_and_the_difference_is_told() -> None:
    lines: list[str] = []
    assert run_side_by_side(lines.append) == 0, "\n".join(lines)
    poison = next(line for line in lines if line.startswith("poison"))
    assert poison.split()[1:3] == ["CRASHED", "CRASHED"] and "KilledWorker" in poison
    restarts = next(line for line in lines if line.startswith("worker restarts"))
    assert "local 1 " in restarts and "Dask 4 " in restarts
    assert any("cloudpickle" in line for line in lines)
