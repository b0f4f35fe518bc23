"""The training runtime: the run record (`run.py`), data reading and checking, losses, metrics, the loop,
its callbacks, distribution strategies and mixed precision."""
