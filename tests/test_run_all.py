import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat as nbf

from paperlib.device import is_x86

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, source: str) -> None:
    nb = nbf.v4.new_notebook()
    params = nbf.v4.new_code_cell('preset = "auto"\nresults_dir = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbf.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbf.write(nb, path)


def _run_all(*args):
    return subprocess.run([sys.executable, str(ROOT / "run_all.py"), *args], capture_output=True, text=True)


def test_run_all_continues_past_a_failure_and_exits_nonzero(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_fails.ipynb", "raise RuntimeError('boom')")
    _notebook(nbs / "02_works.ipynb", "from pathlib import Path\nimport matplotlib.pyplot as plt\nfrom paperlib import claims as C, plots\n"
              "C.record(results_dir, '02_works', [C.Claim(claim='c', section='2', figure='Fig. 1', paper='1', criterion='exact', "
              "estimate=C.Estimate(1, 1, 1), verdict=C.exact(preset == 'smoke'), kind='arithmetic')])\n"
              "plots.save(plt.figure(), Path(results_dir) / 'figures', 'fig1_examples')\n"
              "import os\nPath(results_dir, 'isa.txt').write_text(os.environ.get('ATEN_CPU_CAPABILITY', 'native'))")
    out = _run_all("--preset", "smoke", "--notebooks", str(nbs), "--results", str(tmp_path / "results"))
    assert out.returncode == 1
    assert "FAILED 01_fails.ipynb" in out.stdout and "1/2 notebooks ran" in out.stdout
    results = tmp_path / "results" / "smoke"
    assert (results / "notebooks" / "02_works.ipynb").exists()
    written = json.loads((results / "claims.json").read_text())
    assert [c["verdict"] for c in written["claims"]] == ["reproduced"]
    assert {"code", "versions", "device", "threads", "cpu_capability", "time", "command"} <= set(written["provenance"])
    # the notebook's kernel inherits the instruction-set cap that run_all sets on x86 CPUs
    assert (results / "isa.txt").read_text() == ("avx2" if is_x86() else "native")
    page = (results / "index.html").read_text()
    assert "notebooks/02_works.ipynb" in page and "figures/fig1_examples.png" in page and "figures/fig1_examples.pdf" in page
    assert "Fig. 1: a 32 x 32 Gaussian bump" in page  # the paper's caption beside the figure


def test_a_notebook_whose_cell_hangs_is_run_again_once(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    marker = tmp_path / "first_attempt"
    _notebook(nbs / "01_hangs_once.ipynb", f"import pathlib, time\nm = pathlib.Path({str(marker)!r})\n"
              "if not m.exists():\n    m.touch()\n    time.sleep(600)")
    _notebook(nbs / "02_hangs.ipynb", "import time\ntime.sleep(600)")
    out = _run_all("--preset", "smoke", "--notebooks", str(nbs), "--results", str(tmp_path / "results"), "--cell-timeout", "3")
    assert out.returncode == 1 and "1/2 notebooks ran" in out.stdout
    assert "01_hangs_once.ipynb: a cell ran past --cell-timeout 3 s; running the notebook again" in out.stdout
    assert "FAILED 02_hangs.ipynb" in out.stdout and "FAILED 01" not in out.stdout


def test_run_all_rejects_unknown_sections_and_presets(tmp_path):
    out = _run_all("--preset", "smoke", "--only", "9")
    assert out.returncode == 2 and "no notebook for section" in out.stderr
    out = _run_all("--preset", "fast")
    assert out.returncode == 2 and "usage:" in out.stderr and "invalid choice: 'fast'" in out.stderr


def test_dry_run_lists_models_and_hours_without_training(tmp_path):
    out = _run_all("--preset", "laptop", "--dry-run", "--runs", str(tmp_path / "runs"))
    assert out.returncode == 0 and "missing" in out.stdout and "worker-hours" in out.stdout
    assert not (tmp_path / "runs").exists()
    out = _run_all("--preset", "gpu", "--dry-run", "--gpu", "H100", "--runs", str(tmp_path / "runs"))
    assert out.returncode == 0 and "GPU-hours" in out.stdout and "from the sheet of H100" in out.stdout, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("all: ") and float(re.search(r"([0-9.]+) GPU-hours", last).group(1)) > 0


def test_models_of_a_section_come_from_its_experiment_module():
    from paperlib import cli, cost
    from paperlib.experiments import compose_interpolate

    nbs = ROOT / "notebooks"
    assert cli.section_runs(nbs / "03_compose_interpolate.ipynb", "laptop") == compose_interpolate.runs("laptop")
    assert cli.section_runs(nbs / "01_datasets.ipynb", "laptop") == []  # trains nothing
    assert cli.section_runs(Path("07_nothing_here.ipynb"), "laptop") == []
    big = compose_interpolate.fig4_runs("paper")["2D"][0]
    small = compose_interpolate.fig4_runs("laptop")["2D"][0]
    assert cost.run_seconds(big, "H100") > 3 * cost.run_seconds(small, "H100")


def test_a_papermill_parameter_changes_the_models_a_notebook_asks_for(tmp_path):
    import papermill as pm

    out = tmp_path / "04.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "04_sample_efficiency.ipynb"), str(out), kernel_name="python3",
                        parameters={"preset": "smoke", "results_dir": str(tmp_path / "results"), "runs_dir": str(tmp_path / "runs"),
                                    "workers": 1, "sizes": [8]}, cwd=str(ROOT / "notebooks"), progress_bar=False)
    sizes = {json.loads((f / "config.json").read_text())["data"]["N"] for f in (tmp_path / "runs").iterdir() if f.is_dir()}
    assert sizes == {8}


def test_a_package_install_writes_under_the_working_directory_not_site_packages(tmp_path):
    """Installed from the package (not a checkout), the run cache and the results default to the
    working directory, and `--help` answers before torch is imported."""
    site, work, source = tmp_path / "site", tmp_path / "work", tmp_path / "source"
    work.mkdir()
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "runs*", "results", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(source)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site), "PAPERLIB_RUNS": "", "PAPERLIB_RESULTS": ""}
    code = "import sys, paperlib.paths as p; print(p.runs_root()); print(p.results_root()); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(work / "runs"), str(work / "results"), "False"]
    help_ = subprocess.run([sys.executable, "-c", "import sys; from paperlib.cli import main; sys.argv = ['paperlib', '--help']; main()"],
                           cwd=work, env=env, capture_output=True, text=True)
    assert help_.returncode == 0 and "--preset" in help_.stdout
