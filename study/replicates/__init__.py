"""The replicate phase: its settings (stored with the experiment), its plan (arms, seeds, the
companion study), rounds of more seeds, and its runs (served through the gate, recorded with
their per-clip predictions, read back for the statistics)."""
