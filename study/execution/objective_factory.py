"""Building a worker's objective: the factory named by the experiment, called once per process."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from objectives import ObjectiveContext
from study import service
from study.errors import UserError
from study.experiment import OBJECTIVES, check_objective_name


class ObjectiveOptions(Protocol):
    """What the objective is built from of a worker's options (`worker.WorkerOptions`)."""

    cache_dir: Path
    model_dir: Path
    device: str | None  # None: the launcher's slot says it
    slot: str | None
    threads: int
    mock_delay: float


def load_factory(name: str) -> Callable[[ObjectiveContext], Any]:
    """The factory for `lstm`, `mock` or `module:attribute` (imported only now)."""
    check_objective_name(name)
    module_name, _, attribute = OBJECTIVES.get(name, name).partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UserError(f"objective {name!r}: no module named {module_name!r}") from None
        raise
    factory = getattr(module, attribute, None)
    if factory is None:
        raise UserError(f"objective {name!r}: module {module_name!r} has no {attribute!r}")
    if not callable(factory):
        raise UserError(f"objective {name!r} is not callable")
    return factory


def device_of(slot: str | None) -> str:
    """The launcher's slot says the device: "cpu.0" → cpu, "cuda1.0" → cuda (its only GPU)."""
    if slot is None:
        return "auto"
    return "cuda" if slot.startswith("cuda") else "cpu"


def build_objective(loaded: service.LoadedStudy, options: ObjectiveOptions) -> Any:
    """The objective of `loaded`'s experiment for a worker with `options` (WorkerOptions)."""
    context = ObjectiveContext(
        spec=loaded.experiment.trial_spec(), study_name=loaded.name, cache_dir=options.cache_dir,
        model_dir=options.model_dir, study_dir=service.name_on_disk(loaded.name),
        device=options.device or device_of(options.slot), threads=options.threads,
        mock_delay=options.mock_delay)
    return load_factory(loaded.experiment.objective)(context)
