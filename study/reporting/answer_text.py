"""The decisive answer in words: the configuration to use with its replicated accuracy, the λ
curve as a compact table, the three effects by one measure, the race and the rounds. `run`'s
summary, the report, the dashboard note and the export all print these lines."""

from __future__ import annotations

import math

from study.analysis.answer import Decisive
from study.analysis.effects import Answer
from study.analysis.simultaneous import Effect, points

_LAMBDA_WORDS = {True: "λ > 0 helps", False: "no gain from λ > 0 shown"}


def pct(mean: float, low: float | None = None, high: float | None = None) -> str:
    """"57.8 %" or "57.8 ± 1.5 %" (a symmetric interval) or "57.8 % (55.1 … 60.2)"."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{mean * 100:.1f} %"
    if abs((mean - low) - (high - mean)) < 1e-9:
        return f"{mean * 100:.1f} ± {(high - mean) * 100:.1f} %"
    return f"{mean * 100:.1f} % ({low * 100:.1f} … {high * 100:.1f})"


def _lam(lam: float) -> str:
    return "0" if lam == 0 else f"{lam:.3g}"


def use_line(answer: Answer) -> str:
    """"Use: λ = …, dropout …, hidden … — replicated X ± Y % (n seeds)"."""
    winner = answer.winner
    if winner is None:
        return "Use: not decided yet — no replicate run has finished"
    summary = answer.summary(winner.key)
    ci = summary.accuracy if summary is not None else None
    replicated = "no finished seed" if ci is None else \
        f"replicated {pct(ci.mean, ci.low, ci.high)} test accuracy ({_seeds(ci.n)})"
    return (f"Use: λ = {_lam(winner.lam)}, dropout {winner.dropout:.3g}, hidden {winner.hidden} "
            f"({winner.origin}) — {replicated}")


def race_lines(answer: Answer) -> list[str]:
    decisive, plan = answer.decisive, answer.plan
    lines = []
    if decisive.race is not None:
        out = list(plan.eliminated) + [a for a in decisive.race.eliminated
                                       if a not in plan.eliminated]
        lines.append(f"  the race: {len(plan.arms)} configurations on validation accuracy "
                     f"({decisive.race.method})"
                     + (f"; left the race: {', '.join(plan.arm(a).label for a in out)}"
                        if out else "; none left it"))
        if decisive.choice is not None:
            lines.append(f"  the choice: {decisive.choice.rule}")
    curse = decisive.curse
    if curse is not None:
        best = plan.arm("best")
        lines.append(f"  the search's best (trial {plan.source_trial}): one run "
                     f"{curse.single * 100:.1f} % validation, replicated "
                     f"{pct(curse.replicated, curse.replicated_low, curse.replicated_high)} "
                     f"({_seeds(curse.n)}): winner's curse {points(curse.curse)} points "
                     f"({points(curse.low)} … {points(curse.high)})"
                     + ("" if decisive.winner == best.key else "; it is not the winner"))
    return lines


def curve_title(decisive: Decisive) -> str:
    band = decisive.curve
    at = decisive.labels.get("best", "best").removeprefix("best: ")
    return (f"The λ curve at {at} (test accuracy; band: each point's difference from λ = 0, "
            f"{band.confidence * 100:g} % simultaneous over {band.family} contrasts, drawn from "
            f"λ = 0's mean; {band.method}):")


def curve_table(decisive: Decisive) -> list[tuple[str, list[str]]]:
    """The λ curve as rows: λ, mean, simultaneous band, seeds (one column per point)."""
    points = decisive.curve.points if decisive.curve is not None else ()
    return [("λ", [_lam(decisive.curve_lambdas[p.arm]) for p in points]),
            ("test %", [f"{p.mean * 100:.1f}" for p in points]),
            ("band %", ["…" if math.isnan(p.low) else f"{p.low * 100:.0f}…{p.high * 100:.0f}"
                        for p in points]),
            ("seeds", [str(p.n) for p in points])]


def curve_lines(decisive: Decisive) -> list[str]:
    if decisive.curve is None:
        return []
    rows = curve_table(decisive)
    width = max(len(c) for _, cells in rows for c in cells)
    return [curve_title(decisive), *(f"  {label:<7}" + "".join(f"  {c:>{width}}" for c in cells)
                                     for label, cells in rows)]


def _effect_line(effect: Effect, decisive: Decisive) -> str:
    if effect.name == "λ":
        chosen = decisive.curve_lambdas.get(effect.chosen)
        what = (f"the λ gain, best λ > 0 (λ = {_lam(chosen)}) − λ = 0" if chosen is not None
                else "the λ gain, best λ > 0 − λ = 0")
        words = _LAMBDA_WORDS[effect.low > 0] if not math.isnan(effect.low) else \
            "no interval yet"
    else:
        what = (f"spread of its grid, best − worst point (worst: "
                f"{decisive_label(decisive, effect.chosen)})")
        factor = "hidden size" if effect.name == "hidden" else effect.name
        words = f"{factor} matters" if effect.low > 0 else f"no effect of {factor} shown"
    return (f"  {effect.name + ' effect:':<16} {what}: {points(effect.estimate)} points, "
            f"{effect.confidence * 100:g} % CI {points(effect.low)} … {points(effect.high)} "
            f"(simultaneous over {effect.family} contrasts), {_seeds(effect.n)}: {words}")


def decisive_label(decisive: Decisive, key: str) -> str:
    return decisive.labels.get(key, key)


def effects_lines(decisive: Decisive, title: str = "test") -> list[str]:
    """The three effects by one measure, their ranking and where it cannot be told apart."""
    if not decisive.effects:
        return []
    at = decisive.labels.get("best", "best").removeprefix("best: ")
    lines = [(f"The three effects by one measure, at {at} ({title} accuracy points; each "
              "factor's grid: best point − worst point; λ's headline: the λ gain, best λ > 0 − "
              "λ = 0; one simultaneous family):")]
    lines += [_effect_line(e, decisive) for e in decisive.effects]
    if decisive.ranking is not None:
        lines += [f"  ranking: {decisive.ranking.line}", f"  {decisive.ranking.sentence}"]
    return lines


def rounds_lines(answer: Answer) -> list[str]:
    plan = answer.plan
    found = [c for c in answer.decisive.comparisons if math.isfinite(c.half_width)]
    effects = [f"{c.key} ±{c.half_width * 100:.1f}" for c in found if c.key.endswith(" effect")]
    races = sorted(c.half_width * 100 for c in found if c.key.startswith("race: "))
    if races:
        effects.append(f"race against the leader ±{races[0]:.1f} … ±{races[-1]:.1f} "
                       f"({len(races)} comparisons)")
    widths = ", ".join(effects)
    done = plan.done or "the next round is decided once this one is finished"
    lines = [(f"Rounds: {len(plan.rounds)} ({answer.finished}/{answer.planned} runs finished); "
              f"{done}.")]
    if widths:
        lines.append(f"  achieved half-widths (points): {widths}")
    lines.append("  seeds stop on precision, never on significance, and not before 5 seeds per "
                 "arm: simulated, every interval then covers ≥ 94.5 % (BENCHMARKS.md, section 12)")
    if answer.decisive.spread_note:
        lines.append(f"  {answer.decisive.spread_note}")
    return lines


def decisive_lines(answer: Answer) -> list[str]:
    """What `run` leads with: the configuration to use, the curve, the effects, the rounds."""
    lines = [use_line(answer), *race_lines(answer), "", *curve_lines(answer.decisive), "",
             *effects_lines(answer.decisive)]
    if answer.holdout is not None:
        lines += ["", *effects_lines(answer.holdout, "holdout")]
    return [*lines, "", *rounds_lines(answer)]


def answer_attribute(answer: Answer) -> str:
    """The answer's first lines in one line, for the study's `answer` user attribute
    (`service.publish_answer`)."""
    ranking = answer.decisive.ranking
    lines = [use_line(answer)] + ([f"effects: {ranking.line}"] if ranking is not None else [])
    return " | ".join(lines) + " (the study's note has the rest)"


def _seeds(n: int) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"
