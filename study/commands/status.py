"""`status`: trials by state, the best so far, workers alive and the replicate phase, as a table
(or JSON/YAML)."""

from __future__ import annotations

import argparse
from typing import Any

from study.commands.common import open_checked
from study.output import Output
from study.reporting.status import brief, status


def _over(info: dict[str, Any]) -> str:
    """Why a study can hold more finished trials than its budget (the gate itself is exact)."""
    if info["budget"] is None or info["finished"] <= info["budget"]:
        return ""
    return (" (over the budget: a worker ran with a larger --n-trials, or the budget was "
            "lowered; `run --n-trials N` sets it)")


def status_table(info: dict[str, Any]) -> str:
    states = ", ".join(f"{k} {v}" for k, v in info["trials_by_state"].items() if v)
    rep = info["replicates"]
    lines = [(f"study         {info['study']} (data {info['data']}, profile {info['profile']}, "
              f"objective {info['objective']}, pruner {info['pruner']})"),
             f"trials        {states or 'none'}",
             f"finished      {info['finished']} / {brief(info['budget'])}{_over(info)}",
             (f"workers alive {info['workers_alive']} ({info['running_trials']} running, "
              f"{info['stale_running_trials']} stale)"),
             (f"replicates    {rep['finished']} / {rep['planned']} finished"
              if rep["planned"] else
              f"replicates    not planned yet ({rep['seeds_per_arm']} seeds per arm once the "
              "search budget is finished)")]
    if info.get("answer"):
        lines.append(f"answer        {info['answer']}")
    best = info["best"]
    lines.append(f"search best   trial {best['number']}: val {brief(best['value'])}, test "
                 f"{brief(best['test_accuracy'])}, λ {brief(best['lambda'])}, "
                 f"{brief(best['params'])}" if best else "search best   no complete trial yet")
    return "\n".join(lines)


def status_command(args: argparse.Namespace) -> Output:
    info = status(open_checked(args, with_heartbeat=True))
    return Output(info, status_table(info))


