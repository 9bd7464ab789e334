"""paperlib: reference implementation of "How Diffusion Models Learn to Factorize and Compose"
(Liang, Liu, Ostrow, Fiete; NeurIPS 2024). Distributed as `diffusion-factorize-compose`.

    import paperlib
    model = paperlib.load(run_hash)  # a trained run's EMA model, from the run cache
    images = paperlib.sample(run_hash, [[16, 16], [8.5, 20]])  # its images at any labels
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


def sample(run, labels, root=None, steps: int | None = None, seed: int = 0, device: str = "cpu"):
    """Images (n, N, N) in [0, 255] that a trained run (a `RunConfig` or its hash) draws at `labels`
    ((n, 2): any real mx, my, held-out ones too), with its sampler (DDIM with the run's steps, or
    `steps`) from noise seeded by `seed`; never trains (see `load`)."""
    from .diffusion import Schedule
    from .evaluate import generate
    from .store import load_model, run_config

    model = load_model(run, root, device)
    config = run_config(run, root)
    images, _ = generate(model, Schedule(config.diffusion, device), labels, steps or config.diffusion.sample_steps, seed)
    return images
