"""Training and evaluation: the training run, parameters, memory, checkpoints, scoring, data parallelism."""
