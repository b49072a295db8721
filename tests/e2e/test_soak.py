"""The chaos soak's short version: ``benchmarks/soak.py --minutes 2`` (private broker, 2 matchers,
2 notifiers, ingest, kill -9 of a matcher and a notifier, the broker stopped for 20 s, an endpoint
failing for a minute) must deliver every expected alert, none unexpected, with zero dead letters
and zero bad signatures. Its report goes to the test's temporary folder, not to docs/."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = [pytest.mark.kafka]


@pytest.mark.timeout(900)
def test_two_minute_chaos_soak_loses_nothing(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "soak.py"), "--minutes", "2", "--drain", "400",
         "--report", str(tmp_path / "reliability.md"), "--plot", str(tmp_path / "soak.png")],
        capture_output=True, text=True, cwd=REPO, timeout=850,
    )
    print(result.stdout[-3000:])
    assert result.returncode == 0, f"soak failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    report = (tmp_path / "reliability.md").read_text()
    assert "Verdict: **passed**" in report and (tmp_path / "soak.png").stat().st_size > 0
