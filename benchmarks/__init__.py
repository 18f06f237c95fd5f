import os

# the benchmark figures were measured with OpenMP threads sleeping between calls, as
# `emb-opt` runs them (emb_opt.cli.main.openmp_threads_sleep); importing emb_opt sets nothing
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
