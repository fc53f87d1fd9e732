"""The replicate phase: which arms, planned once, run exactly once, and statistics that find a known
effect and no more false ones than they promise."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import threading
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from optuna_dashboard import get_note

from study import service
from study.analysis import effects, statistics
from study.execution.worker import WorkerOptions, run_worker
from study.experiment import from_flags
from study.replicates.plan import (
    BUDGET_ATTR,
    ReplicatePhase,
    current_plan,
    ensure_planned,
    open_companion,
    plan_arms,
)
from study.replicates.runs import answer_of, decode_labels, encode_labels
from study.trials import best_trial
from tests.helpers import one_line_error, wait_for
from tests.study.conftest import Cli, load
from tests.study.mock_effects import KnownCurve
from tests.study.report_studies import make_study, search_distributions
from tests.study.reporting.dashboard_plots import saved_plots

T_975_DF3 = 3.182446305284263
FSDD = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "fsdd" / "recordings"
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _experiment(**flags) -> object:
    args = argparse.Namespace(**{"objective": "mock", **flags})
    return from_flags(args, n_trials=flags.pop("n_trials", 8))


def _trial(log10_lambda: float, value: float, dropout: float = 0.3, hidden: int = 64):
    lam = 0.0 if log10_lambda < -2 else 10.0 ** log10_lambda
    return optuna.trial.create_trial(
        params={"log10_lambda": log10_lambda, "dropout": dropout, "hidden": hidden},
        distributions=search_distributions(), value=value, user_attrs={"lambda": lam})


def test_the_plan_holds_the_curve_the_ends_and_the_top_configurations() -> None:
    study = make_study("lambda")
    best = best_trial(study)
    plan = plan_arms(study.trials, _experiment(), seeds=3)
    arms = {arm.key: arm for arm in plan.arms}
    assert plan.source_trial == best.number and arms["best"].origin == f"search trial {best.number}"
    assert arms["best"].lam == best.user_attrs["lambda"] > 0
    assert (arms["best"].dropout, arms["best"].hidden) == (best.params["dropout"],
                                                           best.params["hidden"])
    # The λ curve at the best's dropout and hidden size: 0, the grid over 0.01 … 100 (quick: one
    # point, its middle), the reference.
    curve = {a.lam for a in plan.arms if a.factor == "λ"}
    assert curve == {0.0, 1.0, 10.0} - {arms["best"].lam}
    assert {a.lam for a in plan_arms(study.trials, _experiment(curve_points=3), seeds=3).arms
            if a.factor == "λ"} == {0.0, 0.01, 1.0, 10.0, 100.0} - {arms["best"].lam}
    assert all((a.dropout, a.hidden) == (arms["best"].dropout, arms["best"].hidden)
               for a in plan.arms if a.factor == "λ")
    assert arms["lambda=10"].lam == 10.0 and "reference" in arms["lambda=10"].label
    # One factor changed at a time, to the ends of its searched range.
    assert {a.dropout for a in plan.arms if a.factor == "dropout"} <= {0.0, 0.6}
    assert {a.hidden for a in plan.arms if a.factor == "hidden"} <= {16, 96}
    for arm in (a for a in plan.arms if a.factor in ("dropout", "hidden")):
        changed = {f for f in ("lam", "dropout", "hidden")
                   if getattr(arm, f) != getattr(arms["best"], f)}
        assert len(changed) == 1
    # The top k = 3 distinct search configurations race, each named by its search trial.
    assert sum(a.search_trial is not None for a in plan.arms) == 3
    assert all(a.origin == f"search trial {a.search_trial}" for a in plan.arms
               if a.factor == "config")
    assert plan.rounds[0].seeds == {a.key: 3 for a in plan.arms} and plan.runs == 3 * len(arms)


def test_when_the_best_trial_has_no_lambda_it_is_the_curves_zero() -> None:
    trials = [_trial(-3.0, 0.70), _trial(0.0, 0.60), _trial(1.0, 0.65)]
    for number, trial in enumerate(trials):
        trial.number = number
    plan = plan_arms(trials, _experiment(), seeds=2)
    assert plan.source_trial == 0 and plan.arms[0].lam == 0.0
    assert "lambda=0" not in {a.key for a in plan.arms}  # the best is λ = 0
    curve = sorted(a.lam for a in plan.arms if a.factor == "λ")
    assert curve == [1.0, 10.0]
    # trial 2 (λ = 10 at the best's dropout and hidden size) is the reference's curve point
    reference = next(a for a in plan.arms if a.key == "lambda=10")
    assert reference.search_trial == 2 and reference.search_value == 0.65


def test_the_reference_outside_the_range_is_skipped_and_user_lambdas_are_arms() -> None:
    study = make_study("lambda")
    experiment = _experiment(lambda_range=(0.1, 5.0))
    plan = plan_arms(study.trials, experiment, seeds=2, lambdas=(0.5, 0.5))
    keys = [arm.key for arm in plan.arms]
    assert "lambda=10" not in keys and any("outside the study's λ range" in n for n in plan.notes)
    assert keys.count("lambda=0.5") == 1


def test_paired_statistics_by_hand() -> None:
    with_lam, without = [0.80, 0.82, 0.78, 0.84], [0.76, 0.80, 0.77, 0.79]
    assert statistics.mean_ci(with_lam).mean == pytest.approx(0.81)
    assert statistics.mean_ci(without).mean == pytest.approx(0.78)
    diff = statistics.paired_difference(with_lam, without)
    # differences 0.04, 0.02, 0.01, 0.05: mean 0.03, s = sqrt(0.001 / 3)
    half = T_975_DF3 * math.sqrt(0.001 / 3) / 2
    assert diff.mean == pytest.approx(0.03)
    assert (diff.low, diff.high) == (pytest.approx(0.03 - half), pytest.approx(0.03 + half))
    assert diff.low > 0  # 0.000948: just above zero
    assert diff.p_value == pytest.approx(0.0462, abs=5e-4)  # t = 3.2863, 3 degrees of freedom
    same = statistics.paired_difference([0.75, 0.5], [0.5, 0.25])  # identical differences
    assert same.ci.half_width == pytest.approx(0.0) and same.p_value == 0.0
    assert statistics.significance(same) == "no spread"  # no verdict from two equal numbers


def test_labels_travel_compactly() -> None:
    labels = [0, 7, 3, 3, 1] * 320
    text = encode_labels(labels)
    assert len(text) < 2.2 * len(labels)
    assert decode_labels(text).tolist() == labels
    assert decode_labels(encode_labels([300, 1])).tolist() == [300, 1]


def _create(url: str, name: str = "s", **flags) -> service.LoadedStudy:
    loaded, _ = service.create(url, name, _experiment(**flags))
    return loaded


def _options(url: str, tmp_path: Path, name: str = "s") -> WorkerOptions:
    return WorkerOptions(url=url, study=name, cache_dir=tmp_path / "cache",
                         model_dir=tmp_path / "models", heartbeat=service.Heartbeat(2, 6),
                         storage_outage_s=10, quiet=True)


def test_replicates_are_planned_once_from_many_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    loaded = _create(url, replicate_seeds=3)
    loaded.study.add_trials([_trial(0.5, 0.7), _trial(-3.0, 0.6), _trial(1.5, 0.65, 0.1, 32)])
    phases: list[ReplicatePhase] = []

    def plan() -> None:
        phases.append(ensure_planned(service.open_study(url, "s")))

    threads = [threading.Thread(target=plan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    companion = open_companion(loaded.study, create=False)
    held = Counter((t.user_attrs["arm"], t.user_attrs["seed"]) for t in companion.trials)
    n_arms = len(phases[0].plan.arms)
    assert len(held) == n_arms * 3 and set(held.values()) == {1}
    assert {p.budget for p in phases} <= {n_arms * 3}
    assert ensure_planned(service.open_study(url, "s")).budget == n_arms * 3
    extended = ensure_planned(service.open_study(url, "s"), seeds=5)
    assert extended.budget == n_arms * 5 == len(companion.get_trials())


@pytest.fixture
def fast_dir(tmp_path: Path):
    """A directory in memory where the machine has one: 40 SQLite studies commit a lot."""
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(dir=shm, prefix="replicates-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _answer(directory: Path, seed: int, objective: str, **flags) -> effects.Answer:
    url, name = f"sqlite:///{directory / 'studies.db'}", f"s{seed}"  # one file, many studies
    # A short search is enough: the statistics judge the replicates of whatever it finds.
    _create(url, name, objective=objective, seed=seed, n_trials=4, pruner="none", **flags)
    run_worker(_options(url, directory, name))
    answer = answer_of(service.open_study(url, name).study)
    assert answer is not None and answer.finished == answer.planned
    return answer


KNOWN, NONE = "tests.study.mock_effects:KnownCurve", "tests.study.mock_effects:NoEffect"
ROUNDS = {"replicate_seeds": 3, "max_seeds": 10, "target_ci": 2.5}  # ±2.5 points


@pytest.mark.slow
# 20 simulated studies with rounds up to 10 seeds (at least 5 before precision may stop them):
# beside three other xdist workers on 2 cores it ran past the default 600 s.
@pytest.mark.timeout(1800)
def test_known_effects_are_covered_the_race_finds_the_best_and_seeds_reach_the_target(
        fast_dir: Path) -> None:
    truth = object.__new__(KnownCurve).truth
    covered = near = reached = capped = 0
    for seed in range(20):
        answer = _answer(fast_dir, seed, KNOWN, **ROUNDS)
        plan, decisive = answer.plan, answer.decisive
        arm = {a.key: a for a in plan.arms}
        # the band: each point's difference from λ = 0, drawn from λ = 0's mean
        zero = next(p for p in decisive.curve.points if arm[p.arm].lam == 0)
        base, origin = zero.mean, truth(arm[zero.arm].params)
        covered += all(p.low - base <= truth(arm[p.arm].params) - origin <= p.high - base
                       for p in decisive.curve.points if p is not zero)
        best = max(truth(a.params) for a in plan.arms)
        near += truth(arm[decisive.winner].params) >= best - 0.01
        widths = [c.half_width for c in decisive.comparisons]
        reached += plan.done.startswith("every interval is within") and max(widths) <= 0.025
        capped += plan.done.startswith("every arm that needs more seeds has 10 (--max-seeds)")
        if seed == 0:
            assert len(plan.rounds) > 1 and decisive.effect("λ").low > 0  # a 4-point peak
    # Precision: the max-|t| family over every grid pair is wider than the old Bonferroni over 6
    # comparisons, so at the 10-seed cap 3 of these 20 studies were still wider than ±2.5 (17
    # reached it, measured); each study that did not reach it must say it stopped at the cap.
    assert covered >= 18 and near >= 18, (covered, near)
    assert reached >= 17 and reached + capped == 20, (reached, capped)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # as the known-effects test: 20 simulated studies in rounds
def test_without_an_effect_few_studies_call_one_significant(fast_dir: Path) -> None:
    # 20 seeded studies: at most 3 call any of the three effects significant (helper measured
    # 6-7 % of studies on the pure functions, so 3 or more of 20 happens with probability < 0.05).
    calls = 0
    for seed in range(20):
        decisive = _answer(fast_dir, seed, NONE, **ROUNDS).decisive
        calls += any(effect.low > 0 for effect in decisive.effects)
    assert calls <= 3, calls


@pytest.mark.slow
def test_a_worker_killed_in_round_two_loses_nothing_and_the_round_after_is_planned_once(
        cli: Cli) -> None:
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    beat = ("--heartbeat-interval", "1", "--heartbeat-grace", "3")
    cli.run("create", "--storage", url, "--objective", "mock", "--n-trials", "4",
            "--replicate-seeds", "2", "--max-seeds", "6", "--target-ci", "0.5", "--pruner",
            "none", "--curve-points", "1", "--replicate-candidates", "1")
    workers = [cli.popen("worker", "--storage", url, "--devices", "cpu", "--per-device", "1",
                         "--quiet", *beat, env={"STUDY_MOCK_DELAY": "1.5"}) for _ in range(2)]
    victim = workers[0]

    def victim_in_round_two() -> bool:
        if "recon-lambda-replicates" not in optuna.get_all_study_names(url):
            return False
        companion = optuna.load_study(study_name="recon-lambda-replicates", storage=url)
        return any(t.state == TrialState.RUNNING and t.user_attrs["seed"] >= 2
                   and f":{victim.pid}:" in t.user_attrs.get("worker", "")
                   for t in companion.get_trials(deepcopy=False))

    try:
        wait_for(victim_in_round_two, "the victim to run a round-2 replicate", timeout=180)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        _, err = workers[1].communicate(timeout=300)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert workers[1].returncode == 0, err
    companion = optuna.load_study(study_name="recon-lambda-replicates", storage=url)
    trials = companion.get_trials()
    done = Counter((t.user_attrs["arm"], t.user_attrs["seed"]) for t in trials
                   if t.state == TrialState.COMPLETE)
    plan = current_plan(companion)
    assert len(plan.rounds) >= 3 and [r.number for r in plan.rounds] == list(
        range(1, len(plan.rounds) + 1)) and plan.done
    planned = {(arm.key, k) for arm in plan.arms for k in range(plan.seeds_of(arm.key))}
    assert set(done) == planned and set(done.values()) == {1}
    assert int(companion.user_attrs[BUDGET_ATTR]) == len(planned)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].user_attrs["seed"] >= 2, [(t.number, t.state.name, t.user_attrs.get("seed"), t.user_attrs.get("worker")) for t in trials]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


@pytest.mark.slow
def test_run_prints_the_answer_and_every_command_shows_it(cli: Cli) -> None:
    # 600 s: on a shared 2-core machine under a load of ~30 this run took 3.5 min (24 s of CPU).
    run = cli.run("run", "--objective", "mock", "--n-trials", "8", "--replicate-seeds", "3",
                  timeout=600)
    first = run.stdout.splitlines()[0]
    assert first.startswith("Use: λ = ") and "replicated" in first and " seeds)" in first
    assert "The λ curve" in run.stdout and "λ effect:" in run.stdout and "ranking:" in run.stdout
    assert "one run: it ranks configurations" in run.stdout
    assert "replicates: planned" in run.stderr and ", round 1" in run.stderr
    # The dashboard's note leads with the answer as soon as the phase ends (no `report` yet).
    loaded = load(f"sqlite:///{cli.cwd / 'studies.db'}")
    assert get_note(loaded).startswith(f"**{first}**"), get_note(loaded)
    companion = load(f"sqlite:///{cli.cwd / 'studies.db'}", "recon-lambda-replicates")
    assert get_note(companion)
    for study in (loaded, companion):  # and the answer's plots, on both studies' pages
        assert sorted(saved_plots(study)) == ["answer-effects", "answer-lambda-curve"]
    status = json.loads(cli.run("status", "--format", "json").stdout)
    assert status["replicates"]["finished"] == status["replicates"]["planned"] > 0
    # status leads with the answer, not only the search's single-run best
    assert status["answer"] == first, (status["answer"], first)
    assert f"answer        {first}" in cli.run("status").stdout
    exported = json.loads(cli.run("export", module="study.best").stdout)
    answer, use = exported["replicates"], exported["use"]
    assert answer["finished"] == answer["planned"] and answer["winner"]["arm"] == use["arm"]
    # `run` ended the phase and published the answer on the dashboard's study page
    assert exported["study_user_attrs"]["answer"].startswith(first.split(" (")[0])
    # The winner's own run fills the top level: its search trial, else (an arm the search never
    # ran) the replicate run whose model is exported.
    assert None not in (exported["trial"], exported["value"], exported["test_accuracy"]), exported
    expected_of = "recon-lambda" if use["search_trial"] is not None else "recon-lambda-replicates"
    assert exported["trial_of"] == expected_of, (exported["trial_of"], use)
    assert f"({use['origin']})" in first
    mean = use["replicated_test_accuracy"]["mean"]
    assert f"replicated {mean * 100:.1f} ±" in first
    more = cli.run("replicate", "--seeds", "4", "--devices", "cpu", "--per-device", "1")
    assert more.stdout.startswith("Use: λ = ")
    again = json.loads(cli.run("status", "--format", "json").stdout)["replicates"]
    assert again["planned"] > status["replicates"]["planned"] and \
        again["planned"] == again["finished"]


@pytest.mark.slow
def test_replicate_by_hand_turns_on_a_phase_that_was_off(cli: Cli) -> None:
    """`replicate --seeds K` on a `--replicate-seeds 0` study stores K, plans and runs them."""
    run = ("--objective", "mock", "--n-trials", "6", "--replicate-seeds", "0")
    early = cli.run("create", *run)
    assert early.returncode == 0
    one_line_error(cli.run("replicate", "--seeds", "2", check=False),
                   "runs once its search is finished", "0 finished trials of a budget of 6",
                   "then python -m study replicate again")
    cli.run("run", "--per-device", "1")
    one_line_error(cli.run("replicate", check=False), "plans no replicates", "--seeds K")
    more = cli.run("replicate", "--seeds", "2", "--devices", "cpu", "--per-device", "1")
    assert "λ effect:" in more.stdout and "2 paired seeds" in more.stdout, more.stdout
    info = json.loads(cli.run("status", "--format", "json").stdout)["replicates"]
    assert info["seeds_per_arm"] == 2 and info["finished"] == info["planned"] > 0
    # Fewer seeds later never shrink the plan.
    cli.run("replicate", "--seeds", "1", "--devices", "cpu", "--per-device", "1")
    again = json.loads(cli.run("status", "--format", "json").stdout)["replicates"]
    assert (again["seeds_per_arm"], again["planned"]) == (2, info["planned"])


@pytest.mark.slow
@pytest.mark.skipif(not FSDD.is_dir(), reason=f"FSDD recordings not found at {FSDD}")
def test_the_real_objective_answers_on_real_recordings(cli: Cli, tmp_path: Path) -> None:
    subset = tmp_path / "fsdd"
    subset.mkdir()
    for path in sorted(FSDD.iterdir()):
        digit, _speaker, take = path.stem.split("_")
        if digit in "0123" and int(take) < 8:  # 4 digits, 6 speakers × 8 takes each
            (subset / path.name).symlink_to(path)
    data = f"folder:{subset}"
    run = cli.run("run", "--data", data, "--n-trials", "4", "--max-epochs", "3",
                  "--replicate-seeds", "2", "--curve-points", "1", "--replicate-candidates", "2",
                  "--devices", "cpu", "--per-device", "2", timeout=1500)
    assert run.stdout.startswith("Use: λ = ") and "λ effect:" in run.stdout, run.stdout + run.stderr
    companion = optuna.load_study(study_name="recon-lambda-replicates",
                                  storage=f"sqlite:///{cli.cwd / 'studies.db'}")
    states = Counter(t.state for t in companion.get_trials())
    assert states[TrialState.COMPLETE] == int(companion.user_attrs[BUDGET_ATTR])
    assert all(0 <= t.user_attrs["test_accuracy"] <= 1 for t in companion.get_trials())
    # The winner is handed over with the model of one of its replicate runs, and scores.
    exported = json.loads(cli.run("export", module="study.best").stdout)
    assert exported["use"]["label"] in run.stdout.splitlines()[0] or \
        exported["use"]["origin"] in run.stdout.splitlines()[0]
    assert exported["model_from"].startswith("recon-lambda-replicates trial")
    evaluated = json.loads(cli.run("evaluate", "--data", data, "--clips", "test",
                                   module="study.best").stdout)
    assert evaluated["source"]["model_path"] == exported["model_path"]
    assert 0 <= evaluated["accuracy"] <= 1
