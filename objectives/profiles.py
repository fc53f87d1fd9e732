"""Profiles: the feature, training and search settings that belong together.

`paper` is the reference setup; `paper-large-batch` its faster GPU variant (`large_batch`);
`quick` is sized so a trial takes seconds on a 2-core CPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSettings:
    """How audio becomes log-mel frames. Every field is part of the feature cache key."""

    sample_rate: int
    n_mels: int
    n_fft: int
    hop_length: int
    clip_seconds: float  # audio past this is not decoded (FMA clips are ~30 s)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainSettings:
    crop_frames: int  # random crop length in training; shorter clips are padded with silence
    eval_frames: int  # fixed, centred window at validation/test time (deterministic)
    batch_size: int
    learning_rate: float
    lr_decay: float  # multiplied into the learning rate after every epoch
    max_epochs: int
    precision: str = "32-true"  # Lightning precision on a GPU ("bf16-mixed"); CPUs train in fp32
    # Linear learning-rate warm-up over this many epochs' worth of steps (0: none). Large batches
    # with a scaled-up rate diverge in the first steps without it.
    warmup_epochs: float = 0.0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SearchBounds:
    """Ranges of the search space; `objectives.search_space` is the only reader."""

    log10_lambda: tuple[float, float]  # values below `lambda_off_below` mean λ = 0
    lambda_off_below: float
    dropout: tuple[float, float]
    hidden: tuple[int, int, int]  # low, high, step
    baseline_dropout: float  # the λ = 0 baseline trial uses these
    baseline_hidden: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Profile:
    name: str
    features: FeatureSettings
    train: TrainSettings
    search: SearchBounds

    def as_dict(self) -> dict:
        return {"name": self.name, "features": self.features.as_dict(),
                "train": self.train.as_dict(), "search": self.search.as_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> Profile:
        """The inverse of `as_dict` (JSON turns the tuples of the search bounds into lists).
        Profiles stored before the replicate defaults moved to `study.defaults` also hold those
        (replicate_seeds, curve_points, ...): the study's replicate settings are stored on their
        own, so they are not read."""
        search = {k: tuple(v) if isinstance(v, list) else v for k, v in data["search"].items()}
        return cls(name=data["name"], features=FeatureSettings(**data["features"]),
                   train=TrainSettings(**data["train"]), search=SearchBounds(**search))


_PAPER = Profile(
    name="paper",
    # 16 kHz, 128 mel bins, hop 512: 30 s ≈ 938 frames, as in the reference.
    features=FeatureSettings(sample_rate=16000, n_mels=128, n_fft=2048, hop_length=512,
                             clip_seconds=30.0),
    train=TrainSettings(crop_frames=512, eval_frames=938, batch_size=32, learning_rate=1e-4,
                        lr_decay=0.97, max_epochs=256),
    search=SearchBounds(log10_lambda=(-3.0, 2.0), lambda_off_below=-2.0, dropout=(0.0, 0.6),
                        hidden=(32, 256, 32), baseline_dropout=0.3, baseline_hidden=128),
)

# The reference shrunk for a laptop CPU: the same optimizer, batch, decay and search for λ and
# dropout. 8 kHz, 32 mel bins and 32 ms frames keep a trial to seconds (FSDD is 8 kHz anyway);
# a 2 s training crop still spans several notes of a music-like clip.
_QUICK = dataclasses.replace(
    _PAPER, name="quick",
    features=FeatureSettings(sample_rate=8000, n_mels=32, n_fft=512, hop_length=256,
                             clip_seconds=4.0),
    train=dataclasses.replace(_PAPER.train, crop_frames=64, eval_frames=96, learning_rate=3e-3,
                              max_epochs=12),
    search=dataclasses.replace(_PAPER.search, hidden=(16, 96, 16), baseline_hidden=64),
)

PROFILES: dict[str, Profile] = {"paper": _PAPER, "quick": _QUICK}


LARGE_BATCH_SIZE = 256


def large_batch(profile: Profile, batch_size: int = LARGE_BATCH_SIZE) -> Profile:
    """The GPU large-batch option of `profile`: bf16, batch 256, the learning rate × √(batch
    ratio) after a 2-epoch linear warm-up, and twice the epochs with the same total decay.

    On a GPU a batch-256 bf16 step processes several times more samples per second than batch
    32, so the doubled epochs still finish sooner. Its accuracy against batch 32, at the
    profile's epochs and at the same doubled epochs: BENCHMARKS.md section 1b (`bench.large_batch`).
    """
    train = profile.train
    epochs = 2 * train.max_epochs
    return dataclasses.replace(profile, name=f"{profile.name}-large-batch", train=dataclasses.replace(
        train, batch_size=batch_size, precision="bf16-mixed", warmup_epochs=2.0, max_epochs=epochs,
        learning_rate=train.learning_rate * (batch_size / train.batch_size) ** 0.5,
        lr_decay=train.lr_decay ** (train.max_epochs / epochs)))


PROFILES["paper-large-batch"] = large_batch(PROFILES["paper"])


def with_max_epochs(profile: Profile, max_epochs: int) -> Profile:
    """The profile with its epochs capped (the study's `--max-epochs`)."""
    return dataclasses.replace(profile, train=dataclasses.replace(profile.train,
                                                                  max_epochs=max_epochs))


class UnknownProfileError(ValueError):
    pass


def get_profile(name: str) -> Profile:
    """The profile called `name`; a clear error lists the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise UnknownProfileError(f"unknown profile {name!r}; choose one of: {known}") from None
