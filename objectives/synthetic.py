"""The embedded default data set: 8 classes of music-like audio generated from a seed.

Each class is a combination of three binary traits — tempo (slow/fast), melodic contour
(rising/falling arpeggios) and timbre (dark/bright) — plus a chord quality (major/minor) tied to
their parity. Every class therefore shares two traits with three others, and the traits are drawn
from overlapping ranges with key, tempo, loudness, noise and distractor sounds varying per clip:
learnable, but far from trivially. Files are written once (wav, atomically) under the cache dir
and then go through the same decode → log-mel path as real recordings.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from objectives.sources import AudioItem, DataSource, stratified_split

GENERATOR_VERSION = 1  # bump whenever the generated audio changes
SAMPLE_RATE = 8000
DEFAULT_PER_CLASS = 60
DATA_SEED = 0  # the audio is a fixed data set; the source's seed only picks the split


@dataclass(frozen=True)
class Style:
    name: str
    fast: bool  # tempo range
    rising: bool  # arpeggio direction
    bright: bool  # harmonic roll-off
    minor: bool  # chord quality


def _styles() -> tuple[Style, ...]:
    names = ("drone", "lament", "chant", "hymn", "ballad", "anthem", "reel", "shuffle")
    styles = []
    for code, name in enumerate(names):
        fast, rising, bright = bool(code & 4), bool(code & 2), bool(code & 1)
        styles.append(Style(name, fast, rising, bright, minor=(fast + rising + bright) % 2 == 1))
    return tuple(styles)


STYLES = _styles()
CLASSES = tuple(style.name for style in STYLES)

# Difficulty knobs: trait ranges overlap, and these set how much of each clip is not the class.
TEMPO_BPM = {False: (66.0, 118.0), True: (96.0, 150.0)}
ROLLOFF = {False: (1.3, 2.6), True: (0.7, 1.7)}  # harmonic k has amplitude k ** -rolloff
CONTOUR_FLIP = 0.3  # chance that a bar runs against the class's contour
SNR_DB = (-3.0, 12.0)
DISTRACTORS = (0, 6)  # random blips per clip (a tone of random pitch and timbre, or a click)


def _tone(freq: float, n: int, rolloff: float, decay: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    harmonics = np.arange(1, max(2, int(SAMPLE_RATE / 2 / freq)))[:16]
    amps = harmonics.astype(float) ** -rolloff
    phases = rng.uniform(0, 2 * np.pi, len(harmonics))
    wave = (amps[:, None] * np.sin(2 * np.pi * freq * harmonics[:, None] * t + phases[:, None]))
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-decay * t)
    return wave.sum(axis=0) * envelope / amps.sum()


def generate_clip(style: Style, rng: np.random.Generator) -> np.ndarray:
    """One clip (float32, mono, SAMPLE_RATE) of `style`, varied by `rng`."""
    seconds = rng.uniform(2.0, 3.0)
    n = int(seconds * SAMPLE_RATE)
    audio = np.zeros(n)
    tempo = rng.uniform(*TEMPO_BPM[style.fast])
    step = int(SAMPLE_RATE * 60.0 / tempo / 2)  # eighth notes
    rolloff = rng.uniform(*ROLLOFF[style.bright])
    decay = rng.uniform(3.0, 9.0)
    root = rng.uniform(45, 60)  # MIDI pitch: random key (A2 … C4)
    third = 3 if style.minor else 4
    chord = np.array([0, third, 7, 12])
    progression = rng.choice([[0, 5, 7, 0], [0, 7, 5, 0], [0, -3, 5, 7], [0, 0, 5, 5]])
    bar = 0
    start = int(rng.integers(0, step))
    while start < n:
        degree = progression[bar % 4]
        rising = style.rising if rng.random() >= CONTOUR_FLIP else not style.rising
        notes = chord if rising else chord[::-1]
        for pitch in notes:
            if start >= n:
                break
            freq = 440.0 * 2 ** ((root + degree + pitch - 69) / 12)
            length = min(n - start, 2 * step)
            audio[start:start + length] += rng.uniform(0.6, 1.0) * _tone(freq, length, rolloff,
                                                                         decay, rng)
            start += step
        bar += 1
    # A quiet pad of the chord: the harmony cue (hard to see at 32 mel bins, as it should be).
    pad = sum(_tone(440.0 * 2 ** ((root + p - 69 - 12) / 12), n, rolloff + 0.8, 0.3, rng)
              for p in chord[:3])
    audio += rng.uniform(0.0, 0.4) * pad
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
    signal_rms = np.sqrt(np.mean(audio ** 2)) + 1e-9
    noise = rng.normal(0, 1, n)
    if rng.random() < 0.5:  # pink-ish noise half of the time
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(64) / 64, mode="same")
    noise *= signal_rms / (np.sqrt(np.mean(noise ** 2)) + 1e-9) / 10 ** (rng.uniform(*SNR_DB) / 20)
    audio += noise
    audio *= rng.uniform(0.2, 0.9) / (np.max(np.abs(audio)) + 1e-9)
    return audio.astype(np.float32)


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
                item_id = f"{style.name}_{number:04d}"
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
    """`synthetic[:N]`: the generated data set, N clips per class, seeded 70/10/20 split."""

    classes = CLASSES

    def __init__(self, cache_dir: Path, *, per_class: int = DEFAULT_PER_CLASS,
                 split_seed: int = 0, data_seed: int = DATA_SEED) -> None:
        self.spec = "synthetic" if per_class == DEFAULT_PER_CLASS else f"synthetic:{per_class}"
        self.per_class, self.split_seed, self.data_seed = per_class, split_seed, data_seed
        self.directory = (Path(cache_dir) / "synthetic"
                          / f"v{GENERATOR_VERSION}-seed{data_seed}-n{per_class}")

    def identity(self) -> dict:
        return {"kind": "synthetic", "version": GENERATOR_VERSION, "data_seed": self.data_seed,
                "per_class": self.per_class, "split": "seed", "seed": self.split_seed}

    def items(self) -> list[AudioItem]:
        from objectives.features import FeatureCacheError

        try:
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            # Workers of one study may start together: one generates, the others wait for it.
            with open(self.directory.parent / f"{self.directory.name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                rows = generate_dataset(self.directory, per_class=self.per_class,
                                        seed=self.data_seed)
        except OSError as error:
            raise FeatureCacheError(
                f"cannot write the synthetic audio under {self.directory.parent}: {error}; "
                "pass a writable --cache-dir or set STUDY_CACHE_DIR") from None
        ids = [item_id for item_id, _, _ in rows]
        splits = stratified_split(ids, [label for _, _, label in rows], self.split_seed)
        return [AudioItem(item_id, path, label, splits[item_id]) for item_id, path, label in rows]
