"""Running trials: the worker loop (both phases), the launcher over devices, the objective
factory, and the progress `run` shows."""
