"""Benchmarks: `python -m paperlib.bench NAME [options]`. Each prints its figures as it goes and
ends with one line holding a JSON object of them, with the CPU instruction set it ran on
(`cpu_capability`): capped at AVX2 on x86 CPUs, as `run_all.py` trains, unless `--native-cpu`
comes before NAME.

  train               train a preset's bump model, report steps, images/s, minutes, accuracy
  time-to-accuracy    accuracy of the EMA model at fixed wall-clock intervals; --baseline runs
                      the plain recipe side by side
  torus-geometry      the fast and the plain recipe on the torus side by side, then the geometry
                      summary of each one's layer-4 representation
  recipes             images to the plateau per hard family, for each training recipe side by side
  torus-controls      section 3.1's question: one change at a time from the torus model with the
                      paper's conditioning (width, density, objective, length; the fast recipe),
                      each until its geometry settles, read at layers 2-4 as the claims read
  workers             the same small models one after another in this process, then in parallel
                      single-threaded workers (`scheduler.train_all`)
  stacked             training images/s of stacks of K = 1..16 runs at N = 8, 16, 32 in one-thread
                      workers; saves the throughput table `paperlib.cost` reads
  sampling-batch      ms per image of the laptop UNet sampling on one thread, per batch size
  gpu                 the throughput table of the machine's accelerator (the CPU where there is none)
  step-work           count every preset network's training step (ops, bytes, FLOPs) for the
                      cost model; --ship writes the table the package ships
  gpu-check           the first command to run on a GPU: CUDA tests, stacked training, evaluation,
                      resume, host syncs, kernels per step, throughput table (seconds on a CPU)
  geometry            the one-call geometry summary of 1024 points in 256 dimensions
  percolation         the full Fig. 6(c) sweep (5 sigmas, 10 lambdas, 5 seeds)

Modules: `training` (training and time-to-accuracy), `throughput` (stacks, workers, GPUs),
`gpucheck`, `analysis` (geometry, percolation), `probes` (host syncs and device transfers).
"""
