"""The authors' released PyTorch weights (SPEC 8): reading .pth files safely
(torch_io.py) and mapping them onto our network (convert.py, behind `python -m
pose3d_jax.convert`)."""
