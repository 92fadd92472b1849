"""Cold start of ``wisgate status`` on the simulated board: a fresh process each run (goal ≤ 400 ms).

Run: .venv/bin/python bench/status_cold_start.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

GOAL_MS = 400.0


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    command = [sys.executable, "-m", "wisgate", "status", "--sim"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
        if "Traceback" in proc.stderr:
            sys.exit(f"wisgate status crashed:\n{proc.stderr}")
    times.sort()
    p90 = times[max(0, int(len(times) * 0.9) - 1)]
    print(
        f"wisgate status --sim cold start over {runs} runs: min {times[0]:.0f} ms, "
        f"median {statistics.median(times):.0f} ms, p90 {p90:.0f} ms, max {times[-1]:.0f} ms "
        f"(goal ≤ {GOAL_MS:.0f} ms)"
    )
    print(f"last exit status {proc.returncode}; last output:\n{proc.stdout}")


if __name__ == "__main__":
    main()
