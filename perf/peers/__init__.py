"""A peer suite: SNNs written and trained the way the SpikingJelly and snnTorch communities do,
the published attack recipes run on them, and per-stage evidence for the standard evaluation's
cascade (issue 16). Scripts: ``build.py`` (train and cache the suite), ``../vs_peers.py``
(peer recipes vs the standard evaluation), ``stages.py`` (every candidate stage alone),
``cascade_sim.py`` (cascades simulated offline from the per-input records)."""
