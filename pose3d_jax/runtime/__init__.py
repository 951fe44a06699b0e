"""Process-level settings of the entry points: the glibc malloc tunables that keep
XLA:CPU's scratch memory resident (malloc_tuning.py), JAX's persistent
compilation cache and GPU flags (compile_cache.py), and packages' lazily resolved
names (lazy_names.py)."""
