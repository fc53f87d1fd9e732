"""The pruner benchmark's score on a tiny hand-made log (pure functions, nothing trained)."""

from __future__ import annotations

import math

from bench.pruner_score import (
    NEVER,
    early_rank_agreement,
    median_score,
    paired_difference,
    score_runs,
    summary_rows,
    trajectory,
)

A, B, C = "config A", "config B", "config C"


def trial(number: int, state: str, epochs: int, value: float | None, config: str) -> dict:
    return {"number": number, "state": state, "epochs": epochs, "value": value, "config": config}


def replicates(**means: float) -> dict:
    """Two replicate runs per configuration around the given mean (fractions)."""
    return {key.replace("_", " "): {"params": {}, "runs": [{"test_accuracy": m - 0.01},
                                                           {"test_accuracy": m + 0.01}]}
            for key, m in means.items()}


def test_trajectory_ignores_pruned_trials_and_keeps_the_first_of_ties() -> None:
    steps = trajectory([trial(0, "COMPLETE", 12, 0.60, A),
                        trial(1, "PRUNED", 2, 0.90, B),  # pruned: costs epochs, never incumbent
                        trial(2, "COMPLETE", 12, 0.60, C),  # a tie: the earlier trial stays
                        trial(3, "FAIL", 0, None, C),
                        trial(4, "COMPLETE", 12, 0.70, C)])
    assert [s["epochs"] for s in steps] == [12, 14, 26, 26, 38]
    assert [s["incumbent"] for s in steps] == [A, A, A, A, C]


def test_score_counts_epochs_until_the_incumbent_is_within_tolerance() -> None:
    log = {"replicates": replicates(config_A=0.60, config_B=0.70, config_C=0.695),
           "runs": [
               # finds C (0.5 points below the reference B) after 2 + 12 + 12 epochs
               {"pruner": "p", "seed": 0, "wall_s": 1.0,
                "trials": [trial(0, "COMPLETE", 12, 0.6, A), trial(1, "PRUNED", 2, None, B),
                           trial(2, "COMPLETE", 12, 0.8, C)]},
               # never leaves A: never within 1 point, 10 points below at the end
               {"pruner": "p", "seed": 1, "wall_s": 1.0,
                "trials": [trial(0, "COMPLETE", 12, 0.6, A), trial(1, "PRUNED", 2, None, B)]}]}
    reference, key, rows = score_runs(log, tolerance=1.0)
    assert key == B and math.isclose(reference, 70.0)
    assert rows[0]["epochs_to_target"] == 26 and math.isclose(rows[0]["final_gap"], 0.5)
    assert rows[0]["epochs_to_hold"] == 26
    assert rows[1]["epochs_to_target"] == NEVER and math.isclose(rows[1]["final_gap"], 10.0)
    assert rows[1]["epochs_to_hold"] == NEVER
    (summary,) = summary_rows(rows, ["p"])
    assert summary["never"] == 1 and summary["epochs to target: median"] == "never"
    assert summary["range"] == "26–never"
    # with a 10-point tolerance the baseline A is already good enough after its 12 epochs
    _, _, loose = score_runs(log, tolerance=10.0)
    assert [r["epochs_to_target"] for r in loose] == [12, 12]


def test_a_target_reached_then_lost_is_not_held() -> None:
    """A lucky validation score later replaces the good incumbent by a worse configuration."""
    log = {"replicates": replicates(config_A=0.60, config_B=0.70, config_C=0.65),
           "runs": [{"pruner": "p", "seed": 0, "wall_s": 1.0,
                     "trials": [trial(0, "COMPLETE", 12, 0.6, A), trial(1, "COMPLETE", 12, 0.7, B),
                                trial(2, "COMPLETE", 12, 0.8, C), trial(3, "COMPLETE", 12, 0.9, B)]}]}
    _, _, (row,) = score_runs(log, tolerance=1.0)
    assert row["epochs_to_target"] == 24 and row["epochs_to_hold"] == 48
    log["runs"][0]["trials"].pop()  # ends on C, 5 points short: reached once, never held
    _, _, (row,) = score_runs(log, tolerance=1.0)
    assert row["epochs_to_target"] == 24 and row["epochs_to_hold"] == NEVER


def test_paired_difference_counts_wins_ties_and_losses() -> None:
    scored = [{"pruner": p, "seed": seed, "final_mean": mean} for p, seed, mean in (
        ("base", 0, 60.0), ("base", 1, 60.0), ("base", 2, 60.0),
        ("new", 0, 66.0), ("new", 1, 60.0), ("new", 2, 57.0))]
    assert paired_difference(scored, "new", "base") == "+1.0 (1/1/1)"
    assert paired_difference(scored, "base", "base") == "–"


def test_median_ranks_never_last() -> None:
    assert median_score([10, 30, NEVER]) == 30
    assert median_score([10, 20, 30, 40]) == 25
    assert median_score([10, 20, NEVER, NEVER]) == NEVER


def test_early_rank_agreement_reads_unpruned_searches_only() -> None:
    def complete(number: int, curve: list[float]) -> dict:
        return {"number": number, "state": "COMPLETE", "epochs": len(curve), "value": max(curve),
                "config": f"c{number}", "val_curve": curve}

    curves = [[0.1, 0.2, 0.5], [0.2, 0.1, 0.6], [0.3, 0.3, 0.7]]
    log = {"runs": [{"pruner": "none", "seed": 0,
                     "trials": [complete(n, c) for n, c in enumerate(curves)]},
                    {"pruner": "median", "seed": 0,  # survivors of a pruner: left out
                     "trials": [complete(9, [0.9, 0.0, 0.1])]}]}
    agreement = early_rank_agreement(log, (1, 2))
    assert agreement[1] == (1.0, 3)  # after 1 epoch the order is already the final one
    assert math.isclose(agreement[2][0], 0.5) and agreement[2][1] == 3
