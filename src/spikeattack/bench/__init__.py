"""Experiments and their execution: TOML experiment files (models x attacks x estimators x
eps x scenarios), the runner that computes every cell into the results store (resumable,
sharded, or on Ray), and the forward sharing between cells that differ only by estimator."""
