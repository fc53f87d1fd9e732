"""What the study commands share once their flags are parsed: where the study is, its heartbeat
settings, the study opened and checked against the flags, and a worker's options."""

from __future__ import annotations

import argparse

from study import defaults
from study.errors import UserError
from study.execution.worker import WorkerOptions
from study.service import Heartbeat


def location(args: argparse.Namespace) -> tuple[str, str]:
    """(storage URL, study name) from the flags, the environment or the defaults."""
    return defaults.storage_url(args.storage), defaults.study_name(args.study)


def heartbeat(args: argparse.Namespace) -> Heartbeat:
    """The heartbeat settings (flags, environment, defaults), checked."""
    try:
        return Heartbeat(*defaults.heartbeat(getattr(args, "heartbeat_interval", None),
                                             getattr(args, "heartbeat_grace", None)))
    except ValueError as exc:
        raise UserError(str(exc)) from None


def open_checked(args: argparse.Namespace, *, with_heartbeat: bool = False):
    """The study the flags name (never created), refusing flags that contradict its experiment."""
    from study import service
    from study.experiment import check_flags

    url, name = location(args)
    loaded = service.open_study(url, name, heartbeat=heartbeat(args) if with_heartbeat else None)
    check_flags(loaded.experiment, args, name)
    return loaded


def worker_options(args: argparse.Namespace, *, search: bool = True,
                   replicate: bool = True) -> WorkerOptions:
    """A worker's settings from its flags and the environment (the experiment is the study's)."""
    url, name = location(args)
    try:
        outage = defaults.storage_outage(getattr(args, "storage_outage", None))
        threads, delay = defaults.threads(), defaults.mock_delay()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return WorkerOptions(
        url=url, study=name, cache_dir=defaults.cache_dir(args.cache_dir),
        model_dir=defaults.model_dir(args.model_dir), heartbeat=heartbeat(args),
        storage_outage_s=outage, artifacts=getattr(args, "artifacts", None),
        n_trials=getattr(args, "n_trials", None),
        timeout=getattr(args, "timeout", None), host=defaults.worker_host(), threads=threads,
        mock_delay=delay, quiet=getattr(args, "quiet", False), search=search,
        replicate=replicate, debug=getattr(args, "debug", False))
