import json
import subprocess
import sys


def test_percolation_bench_ends_with_one_json_line():
    out = subprocess.run([sys.executable, "-m", "paperlib.bench", "percolation", "--repeats", "1"],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()
    figures = json.loads(out[-1])
    assert figures["bench"] == "percolation" and len(figures["mass_ratio"]) == 5
    assert figures["critical_fraction"][0] is None  # sigma = 0.1 never percolates at 0.005
