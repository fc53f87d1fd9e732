"""The numbers of the answer: statistics (pure), simultaneous intervals, the decision rules, the
decisive answer, effects per split, importance and the search's λ gap. The plan and runs they read
are `study.design`'s."""
