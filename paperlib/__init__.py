"""paperlib: reference implementation of "How Diffusion Models Learn to Factorize and Compose"
(Liang, Liu, Ostrow, Fiete; NeurIPS 2024)."""

__version__ = "0.1.0"
