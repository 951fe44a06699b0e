"""Process-level settings of the entry points: the glibc malloc tunables that keep
XLA:CPU's scratch memory resident (malloc_tuning.py)."""
