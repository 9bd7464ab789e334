"""paperlib: reference implementation of "How Diffusion Models Learn to Factorize and Compose"
(Liang, Liu, Ostrow, Fiete; NeurIPS 2024). Distributed as `diffusion-factorize-compose`.

    import paperlib
    model = paperlib.load(run_hash)  # a trained run's EMA model, from the run cache
"""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "diffusion-factorize-compose"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"


def load(run, root=None, device: str = "cpu"):
    """The EMA model of a trained run (a `RunConfig` or its hash) from the run cache's weights;
    never trains: a run that is not trained raises FileNotFoundError naming the command that trains it."""
    from .store import load_model

    return load_model(run, root, device)
