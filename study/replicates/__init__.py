"""The replicate phase: its plan (arms, seeds, the companion study) and its runs (served through
the gate, recorded with their per-clip predictions, read back for the statistics)."""
