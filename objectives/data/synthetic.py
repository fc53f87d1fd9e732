"""The embedded default data set: 8 classes of music-like audio generated from a seed.

Each class has a melody register (neighbouring classes 5 semitones apart, jittered per clip so
that neighbours overlap), a tempo range (neighbours differ), a glide contour (rising/falling),
a timbre (dark/bright) and a chord quality. Key, tempo, loudness, rests, contour flips, noise
and distractor sounds vary per clip. The knobs below were calibrated so that the quick profile
lands well above chance and clearly below 100 % (about 55-70 % test accuracy), leaving room
for λ, dropout and hidden size to matter. Files are written once (wav, atomically) under the
cache dir and then go through the same decode → log-mel path as real recordings.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from objectives.data.base import (
    WRITABLE_HINT,
    AudioItem,
    DataSource,
    DataSourceError,
    split_counts,
    stratified_split,
)

GENERATOR_VERSION = 2  # bump whenever the generated audio changes
SAMPLE_RATE = 8000
DEFAULT_PER_CLASS = 100
DATA_SEED = 0  # the audio is a fixed data set; the source's seed only picks the split
# Validation and test clips per class are this many times what the 70/10/20 split of N gives
# (N = 100: 70 train, 40 val, 80 test per class). Generated clips cost only evaluation; with the
# split's 80/160 clips which clips a set held moved one run's accuracy by about 3 (val) and 2
# (test) points SD, with 320/640 by under 1: BENCHMARKS.md section 9 (`bench.run_noise`).
EVAL_SCALE = 4


@dataclass(frozen=True)
class Style:
    name: str
    register: float  # centre of the melody, MIDI note number
    fast: bool  # tempo range
    rising: bool  # direction of each note's pitch glide
    bright: bool  # harmonic roll-off
    minor: bool  # chord quality


def _styles() -> tuple[Style, ...]:
    names = ("drone", "lament", "chant", "hymn", "ballad", "anthem", "reel", "shuffle")
    styles = []
    for code, name in enumerate(names):
        # Neighbouring classes sit REGISTER_STEP apart and differ in tempo; classes two apart
        # also differ in contour. Register jitter makes neighbours overlap.
        fast, rising, bright = bool(code % 2), bool((code // 2) % 2), bool((code // 4) % 2)
        styles.append(Style(name, register=REGISTER_LOW + REGISTER_STEP * code, fast=fast,
                            rising=rising, bright=bright, minor=(code + bright) % 2 == 1))
    return tuple(styles)


# Difficulty knobs, calibrated so the quick profile lands well above chance and clearly below
# 100 % (see README): trait ranges overlap, and noise and distractors hide part of each clip.
REGISTER_LOW = 50.0  # MIDI note of class 0's melody centre (D3)
REGISTER_STEP = 5.0  # semitones between neighbouring classes' centres
REGISTER_JITTER = 1.5  # semitones, standard deviation per clip
TEMPO_BPM = {False: (70.0, 115.0), True: (100.0, 160.0)}
ROLLOFF = {False: (1.4, 2.4), True: (0.7, 1.5)}  # harmonic k has amplitude k ** -rolloff
GLIDE = (1.0, 5.0)  # semitones each note slides, in the direction of the class's contour
CONTOUR_FLIP = 0.2  # chance that a note glides against the class's contour
SNR_DB = (10.0, 25.0)
DISTRACTORS = (0, 3)  # random blips per clip (a tone of random pitch and timbre, or a click)

STYLES = _styles()
CLASSES = tuple(style.name for style in STYLES)


def _tone(freq: float, n: int, rolloff: float, decay: float, rng: np.random.Generator,
          glide: float = 0.0) -> np.ndarray:
    """A decaying harmonic note whose pitch slides by `glide` semitones over its length."""
    t = np.arange(n) / SAMPLE_RATE
    track = freq * 2.0 ** (glide * t / max(t[-1], 1e-3) / 12)
    top = max(freq, freq * 2.0 ** (glide / 12))
    harmonics = np.arange(1, max(2, int(SAMPLE_RATE / 2 / top)))[:16]
    amps = harmonics.astype(float) ** -rolloff
    phase = 2 * np.pi * np.cumsum(track) / SAMPLE_RATE
    phases = rng.uniform(0, 2 * np.pi, len(harmonics))
    wave = amps[:, None] * np.sin(harmonics[:, None] * phase + phases[:, None])
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-decay * t)
    return wave.sum(axis=0) * envelope / amps.sum()


def _melody(style: Style, n: int, rng: np.random.Generator) -> np.ndarray:
    """Notes of the class's chord around its register, at its tempo, gliding its way."""
    audio = np.zeros(n)
    step = int(SAMPLE_RATE * 60.0 / rng.uniform(*TEMPO_BPM[style.fast]) / 2)  # eighth notes
    rolloff = rng.uniform(*ROLLOFF[style.bright])
    decay = rng.uniform(3.0, 9.0)
    centre = style.register + rng.normal(0.0, REGISTER_JITTER)
    third = 3 if style.minor else 4
    chord = np.array([-12, -12 + third, -5, 0, third, 7, 12])
    start = int(rng.integers(0, step))
    while start < n:
        pitch = centre + rng.choice(chord)
        rising = style.rising if rng.random() >= CONTOUR_FLIP else not style.rising
        glide = rng.uniform(*GLIDE) * (1 if rising else -1)
        length = min(n - start, 2 * step)
        freq = 440.0 * 2 ** ((pitch - 69) / 12)
        audio[start:start + length] += rng.uniform(0.5, 1.0) * _tone(freq, length, rolloff, decay,
                                                                     rng, glide)
        start += step if rng.random() > 0.15 else 2 * step  # the odd rest
    return audio


def _distractors(audio: np.ndarray, rng: np.random.Generator) -> None:
    n = len(audio)
    for _ in range(int(rng.integers(*DISTRACTORS, endpoint=True))):
        at = int(rng.integers(0, n))
        length = min(n - at, int(rng.uniform(0.05, 0.5) * SAMPLE_RATE))
        if length < 2:
            continue
        if rng.random() < 0.5:
            blip = _tone(rng.uniform(100, 1500), length, rng.uniform(0.5, 2.5),
                         rng.uniform(3, 20), rng)
        else:
            blip = rng.normal(0, 1, length) * np.exp(-np.arange(length) / (0.01 * SAMPLE_RATE))
        audio[at:at + length] += rng.uniform(0.3, 1.0) * blip


def _add_noise(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(audio)
    signal_rms = np.sqrt(np.mean(audio ** 2)) + 1e-9
    noise = rng.normal(0, 1, n)
    if rng.random() < 0.5:  # pink-ish noise half of the time
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(64) / 64, mode="same")
    noise *= signal_rms / (np.sqrt(np.mean(noise ** 2)) + 1e-9) / 10 ** (rng.uniform(*SNR_DB) / 20)
    return audio + noise


def generate_clip(style: Style, rng: np.random.Generator) -> np.ndarray:
    """One clip (float32, mono, SAMPLE_RATE) of `style`, varied by `rng`."""
    n = int(rng.uniform(2.0, 3.0) * SAMPLE_RATE)
    audio = _melody(style, n, rng)
    _distractors(audio, rng)
    audio = _add_noise(audio, rng)
    audio *= rng.uniform(0.2, 0.9) / (np.max(np.abs(audio)) + 1e-9)
    return audio.astype(np.float32)


def _clip_id(style: Style, number: int) -> str:
    return f"{style.name}_{number:04d}"


def generate_dataset(directory: Path, *, per_class: int = DEFAULT_PER_CLASS,
                     seed: int = DATA_SEED) -> list[tuple[str, Path, str]]:
    """Write `per_class` wav files per class into `directory`; return (item_id, path, label).

    Deterministic: the same seed and size give the same bytes. Files appear atomically: the set is
    written into a temporary sibling directory and renamed into place with a manifest.
    """
    import soundfile as sf

    directory = Path(directory)
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        tmp = directory.with_name(directory.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        rows = []
        for index, style in enumerate(STYLES):
            rng = np.random.default_rng([seed, index])  # per class: sizes do not shift classes
            for number in range(per_class):
                item_id = _clip_id(style, number)
                sf.write(tmp / f"{item_id}.wav", generate_clip(style, rng), SAMPLE_RATE,
                         subtype="PCM_16")
                rows.append([item_id, style.name])
        (tmp / "manifest.json").write_text(json.dumps(
            {"version": GENERATOR_VERSION, "seed": seed, "per_class": per_class, "items": rows}))
        shutil.rmtree(directory, ignore_errors=True)  # an incomplete set from an older layout
        tmp.rename(directory)
    rows = json.loads(manifest.read_text())["items"]
    return [(item_id, directory / f"{item_id}.wav", label) for item_id, label in rows]


class SyntheticSource(DataSource):
    """`synthetic[:N]`: the generated data set. Per class, the training clips of a 70/10/20 split
    of N, and `eval_scale` times its validation and test clips; one seeded split of them all."""

    classes = CLASSES

    def __init__(self, cache_dir: Path, *, per_class: int = DEFAULT_PER_CLASS,
                 split_seed: int = 0, data_seed: int = DATA_SEED,
                 eval_scale: int = EVAL_SCALE) -> None:
        self.spec = "synthetic" if per_class == DEFAULT_PER_CLASS else f"synthetic:{per_class}"
        self.per_class, self.split_seed, self.data_seed = per_class, split_seed, data_seed
        self.eval_scale = eval_scale
        n_train, n_val, n_test = split_counts(per_class)
        self.counts = (n_train, eval_scale * n_val, eval_scale * n_test)  # per class
        # Clips are numbered per class from one generator each, so a larger set only appends
        # clips: the first N are the same bytes whatever the scale.
        self.generated = sum(self.counts)
        self.directory = (Path(cache_dir) / "synthetic"
                          / f"v{GENERATOR_VERSION}-seed{data_seed}-n{self.generated}")

    def identity(self) -> dict:
        return {"kind": "synthetic", "version": GENERATOR_VERSION, "data_seed": self.data_seed,
                "per_class": self.per_class, "eval_scale": self.eval_scale, "split": "seed",
                "seed": self.split_seed}

    def _splits(self, rows: list[tuple[str, str]]) -> dict[str, str]:
        # Fractions that give exactly `counts` per class (split_counts rounds integers exactly).
        fractions = tuple(count / self.generated for count in self.counts)
        return stratified_split([item_id for item_id, _ in rows], [label for _, label in rows],
                                self.split_seed, fractions)

    def labelled_splits(self) -> list[tuple[str, str]]:
        # Known from the size alone: checking the split writes no audio.
        rows = [(_clip_id(style, number), style.name)
                for style in STYLES for number in range(self.generated)]
        splits = self._splits(rows)
        return [(label, splits[item_id]) for item_id, label in rows]

    def items(self) -> list[AudioItem]:
        try:
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            # Workers of one study may start together: one generates, the others wait for it.
            with open(self.directory.parent / f"{self.directory.name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                rows = generate_dataset(self.directory, per_class=self.generated,
                                        seed=self.data_seed)
        except OSError as error:
            raise DataSourceError(
                f"cannot write the synthetic audio under {self.directory.parent}: {error}; "
                f"{WRITABLE_HINT}") from None
        splits = self._splits([(item_id, label) for item_id, _, label in rows])
        return [AudioItem(item_id, path, label, splits[item_id]) for item_id, path, label in rows]
