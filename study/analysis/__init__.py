"""The numbers of the answer: statistics (pure), simultaneous intervals, the decision rules, the
decisive answer, effects per split, importance and the search's λ gap. The plan and runs they read
are `study.design`'s.

scipy.stats (and statsmodels) are imported inside the functions that use them: they are most of
a command's start-up (0.75 of 1.8 s measured), and most processes (search workers, `create`,
`status`) never compute an interval.
"""
