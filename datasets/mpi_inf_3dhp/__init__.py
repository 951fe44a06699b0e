"""The MPI-INF-3DHP test set as a TFDS builder: `from datasets.mpi_inf_3dhp import mpi_inf_3dhp`."""
