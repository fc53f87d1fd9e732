"""Writes a small data set in FMA's exact layout (tracks.csv with its two-row header, mp3 files in
fma_small/NNN/NNNNNN.mp3), including the kinds of bad clips the real FMA small has."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from objectives.data.fma import FMA_GENRES

SAMPLE_RATE = 8000
EMPTY_ID = 99134  # listed, audio file of 0 bytes (as FMA's 099134)
MISSING_ID = 108925  # listed, no audio file at all
SHORT_ID = 98565  # listed, a clip much shorter than the others


def _clip(genre_index: int, number: int, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    freq = 200.0 * (1 + genre_index) + 10 * number
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_fma(root: Path, *, per_genre: int = 5, seconds: float = 0.5) -> dict:
    """Create root/fma_metadata/tracks.csv and root/fma_small/; return what was written.

    Per genre, `per_genre` small-subset tracks with mp3 files; plus medium/large tracks (never
    loaded), an empty mp3, a missing mp3 and a short clip, all listed as small.
    """
    rows, small_ok = [], {}
    track_id = 2
    for g, genre in enumerate(FMA_GENRES):
        for number in range(per_genre):
            split = ("training", "training", "training", "validation", "test")[number % 5]
            rows.append((track_id, "small", split, genre, _clip(g, number, seconds)))
            small_ok[f"{track_id:06d}"] = genre
            track_id += 3
        rows.append((track_id, "medium", "training", genre, None))
        rows.append((track_id + 1, "large", "test", None, None))
        track_id += 5
    rows.append((EMPTY_ID, "small", "training", "Rock", b""))
    rows.append((MISSING_ID, "small", "test", "Pop", None))
    rows.append((SHORT_ID, "small", "validation", "Folk", _clip(6, 99, 0.05)))
    for tid, subset, _, _, audio in rows:
        if subset != "small" or audio is None:
            continue
        name = f"{tid:06d}"
        path = root / "fma_small" / name[:3] / f"{name}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(audio, bytes):
            path.write_bytes(audio)
        else:
            sf.write(path, audio, SAMPLE_RATE, format="MP3")
    columns = pd.MultiIndex.from_tuples([
        ("album", "title"), ("artist", "name"), ("set", "split"), ("set", "subset"),
        ("track", "duration"), ("track", "genre_top"), ("track", "genres"), ("track", "title")])
    frame = pd.DataFrame(
        [["Album", "Artist", split, subset, 180, genre, "[21]", f"Track {tid}"]
         for tid, subset, split, genre, _ in rows],
        index=pd.Index([row[0] for row in rows], name="track_id"), columns=columns)
    (root / "fma_metadata").mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "fma_metadata" / "tracks.csv")
    return {"small_ok": small_ok, "empty": f"{EMPTY_ID:06d}", "missing": f"{MISSING_ID:06d}",
            "short": f"{SHORT_ID:06d}", "rows": len(rows)}
