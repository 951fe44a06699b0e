"""Training: the loss (losses.py), the train state and the pure pmapped step
(train.py), the loop with start-up, evaluation and checkpoints (trainer.py), its
progress bar (progress.py) and multi-process start-up (distributed.py).
`launch.py` at the repository root is its command line."""
