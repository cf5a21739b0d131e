"""The experiment engine: an experiment spec in, a run and its audit out. Knows nothing of HTTP."""
