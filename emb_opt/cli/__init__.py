"""The `emb-opt` command line: run a config, the demo, inspect and plot a run directory."""
