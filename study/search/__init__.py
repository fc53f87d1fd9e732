"""The search phase: the study-wide budget, and the sampler and pruner every worker builds."""
