"""The log-mel feature cache: decode every clip once, store compact arrays, memory-map them.

Layout of `cache_dir/<key>/` (key = digest of the source identity and the feature settings):
`features.npy` (float32, all ok clips' frames concatenated, frames × n_mels), `index.json` (one
record per item: item_id, label, split, frames, status, reason, offset; a file the source skipped
is failed with split ""), `meta.json` and, written last, `complete.json`. A build works in `cache_dir/<key>.partial/` (one atomically written result
per item, so an interrupted build resumes) and renames the finished directory into place; a
directory without `complete.json` is never trusted. A lock file serializes concurrent builders.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from objectives.data.base import SPLITS, WRITABLE_HINT, AudioItem, DataSource
from objectives.profiles import FeatureSettings

CACHE_VERSION = 1  # bump when the stored layout or the feature formula changes
MIN_FRAMES = 2
IN_PROCESS_BELOW = 64  # fewer items than this: a process pool costs more than it saves


class FeatureCacheError(RuntimeError):
    """The cache cannot be built or read (unwritable directory, every file failed, ...)."""


class DecodeError(Exception):
    """One file cannot become features; the message is the reason recorded in the index."""


def cache_key(source: DataSource, settings: FeatureSettings) -> str:
    """A short digest of what determines the features; computing it decodes nothing."""
    payload = {"version": CACHE_VERSION, "source": source.identity(),
               "features": settings.as_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def decode_audio(path: Path, settings: FeatureSettings) -> np.ndarray:
    """Mono float32 audio at the settings' sample rate, at most `clip_seconds` long."""
    import librosa

    if not path.exists():
        raise DecodeError("file not found")
    if path.stat().st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    with warnings.catch_warnings():
        # librosa warns before falling back to audioread; the failure itself is recorded.
        warnings.simplefilter("ignore")
        try:
            audio, _ = librosa.load(path, sr=settings.sample_rate, mono=True,
                                    duration=settings.clip_seconds)
        except Exception as error:  # noqa: BLE001 — decoders raise anything; keep the reason
            message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            raise DecodeError(f"cannot decode: {type(error).__name__}: {message}") from None
    return audio


def log_mel(audio: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """frames × n_mels float32: `(power_to_db(mel, ref=max) + 40) / 40`, about [-1, 1]."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=settings.sample_rate, n_fft=settings.n_fft,
                                         hop_length=settings.hop_length, n_mels=settings.n_mels)
    return ((librosa.power_to_db(mel, ref=np.max) + 40.0) / 40.0).T.astype(np.float32)


def featurize(path: Path, settings: FeatureSettings) -> np.ndarray:
    """Decode and featurize one file; raise DecodeError with the reason it is unusable."""
    audio = decode_audio(path, settings)
    if audio.size == 0:
        raise DecodeError("no audio samples")
    if not np.any(audio):
        raise DecodeError("silent (all-zero audio)")
    if not np.all(np.isfinite(audio)):
        raise DecodeError("audio contains NaN or infinite samples")
    frames = 1 + len(audio) // settings.hop_length  # librosa's centred framing
    if frames < MIN_FRAMES:
        raise DecodeError(f"too short: {len(audio)} samples, {frames} frame(s) < {MIN_FRAMES}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_fft too large" for clips shorter than one window
        return log_mel(audio, settings)


def _item_stem(item: AudioItem) -> str:
    return hashlib.sha1(item.item_id.encode()).hexdigest()[:20]


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        write(handle)
    os.replace(tmp, path)


def _process(job: tuple[AudioItem, FeatureSettings, str]) -> str | None:
    """Featurize one item into the partial directory; returns the failure reason, if any."""
    item, settings, items_dir = job
    stem = Path(items_dir) / _item_stem(item)
    try:
        features = featurize(item.path, settings)
    except DecodeError as error:
        reason = str(error)
        _write_atomic(stem.with_suffix(".json"), lambda h: h.write(json.dumps(
            {"reason": reason}).encode()))
        return reason
    _write_atomic(stem.with_suffix(".npy"), lambda h: np.save(h, features))
    return None


class FeatureCache:
    """A complete feature cache on disk; `split()` hands out memory-mapped per-clip arrays."""

    def __init__(self, directory: Path, *, reused: bool = False, seconds: float = 0.0) -> None:
        self.directory = Path(directory)
        meta = json.loads((self.directory / "meta.json").read_text())
        self.key: str = meta["key"]
        self.spec: str = meta["spec"]
        self.classes: tuple[str, ...] = tuple(meta["classes"])
        self.settings = FeatureSettings(**meta["settings"])
        self.index: list[dict] = json.loads((self.directory / "index.json").read_text())
        self.reused, self.seconds = reused, seconds
        self._features: np.ndarray | None = None

    @property
    def features(self) -> np.ndarray:
        if self._features is None:
            self._features = np.load(self.directory / "features.npy", mmap_mode="r")
        return self._features

    def split(self, name: str) -> tuple[list[np.ndarray], np.ndarray]:
        """The ok clips of split `name` (frames × n_mels views) and their class indices."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of: {', '.join(SPLITS)}")
        rows = [r for r in self.index if r["split"] == name and r["status"] == "ok"]
        clips = [self.features[r["offset"]:r["offset"] + r["frames"]] for r in rows]
        position = {label: i for i, label in enumerate(self.classes)}
        return clips, np.array([position[r["label"]] for r in rows], dtype=np.int64)

    def summary(self) -> dict:
        """Counts per split and status, the failed items with their reasons, and where it is."""
        splits = {name: {"ok": 0, "failed": 0} for name in SPLITS}
        for record in self.index:
            if record["split"] in splits:  # a skipped file (its name, say) is in no split
                splits[record["split"]][record["status"]] += 1
        failed = [{key: r[key] for key in ("item_id", "label", "split", "reason")}
                  for r in self.index if r["status"] == "failed"]
        return {"key": self.key, "directory": str(self.directory), "data": self.spec,
                "classes": list(self.classes), "settings": self.settings.as_dict(),
                "items": len(self.index), "ok": len(self.index) - len(failed),
                "failed": len(failed), "splits": splits, "failed_items": failed,
                "reused": self.reused, "seconds": round(self.seconds, 3)}


def _complete(directory: Path) -> bool:
    return (directory / "complete.json").is_file()


def build_cache(source: DataSource, settings: FeatureSettings, cache_dir: Path, *,
                workers: int | None = None, progress: bool = True) -> FeatureCache:
    """The complete cache of `source` under `settings`: reused if built before, else built.

    Extraction runs on `workers` processes (default: every core). Files that cannot be used are
    recorded as failed with a reason and left out; FeatureCacheError if none is usable.
    """
    started = time.perf_counter()
    cache_dir = Path(cache_dir).expanduser()
    key = cache_key(source, settings)
    final = cache_dir / key
    if _complete(final):
        return _reuse(final, started, progress)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        lock = open(cache_dir / f"{key}.lock", "w")  # noqa: SIM115 — closed by `with lock` below
    except OSError as error:
        raise FeatureCacheError(f"cannot write the feature cache directory {cache_dir}: {error}; "
                                f"{WRITABLE_HINT}") from None
    with lock:
        # Workers of one study may start together: one builds, the others wait and reuse.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(final):
            return _reuse(final, started, progress)
        _build(source, settings, key, cache_dir, workers=workers, progress=progress)
    cache = FeatureCache(final, reused=False, seconds=time.perf_counter() - started)
    if progress:
        info = cache.summary()
        print(f"feature cache {key}: built {info['ok']} clips ({info['failed']} failed) "
              f"in {cache.seconds:.1f} s at {final}", file=sys.stderr)
    return cache


def _reuse(directory: Path, started: float, progress: bool) -> FeatureCache:
    cache = FeatureCache(directory, reused=True, seconds=time.perf_counter() - started)
    if progress:
        print(f"feature cache {cache.key}: reusing {directory}", file=sys.stderr)
    return cache


def _build(source: DataSource, settings: FeatureSettings, key: str, cache_dir: Path, *,
           workers: int | None, progress: bool) -> None:
    from tqdm import tqdm

    final, partial = cache_dir / key, cache_dir / f"{key}.partial"
    shutil.rmtree(final, ignore_errors=True)  # present but incomplete: never trusted
    items_dir = partial / "items"
    items_dir.mkdir(parents=True, exist_ok=True)
    items = source.items()
    todo = [item for item in items
            if not (items_dir / f"{_item_stem(item)}.npy").exists()
            and not (items_dir / f"{_item_stem(item)}.json").exists()]
    jobs = [(item, settings, str(items_dir)) for item in todo]
    workers = max(1, workers or os.cpu_count() or 1)
    bar = tqdm(total=len(items), initial=len(items) - len(todo), disable=not progress,
               desc=f"features {key}", unit="clip", file=sys.stderr, leave=False)
    with bar:
        if workers == 1 or len(jobs) < IN_PROCESS_BELOW:
            for job in jobs:
                _process(job)
                bar.update()
        else:
            # The platform's default start method: spawn/forkserver would re-import the caller's
            # __main__, which breaks scripts fed on stdin; children never touch torch.
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                                     initializer=_single_threaded) as pool:
                for _ in pool.map(_process, jobs, chunksize=8):
                    bar.update()
    _assemble(source, settings, key, items, items_dir, partial / "ready")
    os.rename(partial / "ready", final)
    shutil.rmtree(partial, ignore_errors=True)


def _single_threaded() -> None:
    # Parallelism comes from the processes; BLAS threads on top made each clip 2-3x slower.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _assemble(source: DataSource, settings: FeatureSettings, key: str, items: list[AudioItem],
              items_dir: Path, ready: Path) -> None:
    shutil.rmtree(ready, ignore_errors=True)
    ready.mkdir()
    index, arrays = [], []
    offset = 0
    for item in items:
        stem = items_dir / _item_stem(item)
        record = {"item_id": item.item_id, "label": item.label, "split": item.split,
                  "frames": 0, "status": "failed", "reason": "", "offset": -1}
        if stem.with_suffix(".npy").exists():
            frames = len(np.load(stem.with_suffix(".npy"), mmap_mode="r"))
            record.update(frames=frames, status="ok", offset=offset)
            arrays.append(stem.with_suffix(".npy"))
            offset += frames
        else:
            record["reason"] = json.loads(stem.with_suffix(".json").read_text())["reason"]
        index.append(record)
    # Files the source could not even list as items (a name that is not valid UTF-8): failed,
    # in no split.
    index += [{"item_id": name, "label": "", "split": "", "frames": 0, "status": "failed",
               "reason": reason, "offset": -1} for name, reason in source.skipped()]
    if not arrays:
        reasons = sorted({r["reason"] for r in index})
        raise FeatureCacheError(
            f"no usable audio in {source.spec}: all {len(index)} file(s) failed "
            f"(reasons: {'; '.join(reasons[:5])}); check the files and the --data path")
    # Stream the clips into one array so memory never holds the whole cache.
    out = np.lib.format.open_memmap(ready / "features.npy", mode="w+", dtype=np.float32,
                                    shape=(offset, settings.n_mels))
    position = 0
    for path in arrays:
        clip = np.load(path)
        out[position:position + len(clip)] = clip
        position += len(clip)
    out.flush()
    del out
    (ready / "index.json").write_text(json.dumps(index))
    meta = {"key": key, "version": CACHE_VERSION, "spec": source.spec,
            "source": source.identity(), "classes": list(source.classes),
            "settings": settings.as_dict(), "dtype": "float32",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (ready / "meta.json").write_text(json.dumps(meta, indent=1))
    (ready / "complete.json").write_text(json.dumps({"key": key, "clips": len(arrays)}))
