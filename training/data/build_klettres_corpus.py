"""Real speakers of ~20 languages from Debian's klettres-data: letters and syllables, one folder per speaker, 16 kHz.

    python training/data/build_klettres_corpus.py OUT_DIR [--languages en de ru ...] [--install]

KLettres (KDE's alphabet trainer) ships a native speaker saying each letter and syllable of their language
(`/usr/share/klettres/LANG/{alpha,syllab}/*.ogg`, GPL-2+). Each language becomes OUT_DIR/klettres-LANG/ with the
clips as 16 kHz FLAC, silence trimmed, and `manifest.json` (package, version, license, minutes, median F0, so that
held-out sets can take speakers of both sexes). The clips are short (~0.5-1 s): `split_heldout.py --speakers` joins
them into longer files for evaluation. Re-running skips files that are already there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from melgan_hf.audio import load_audio, save_audio
from training.data.build_speech_corpus import ensure_installed, license_of, package_version

PACKAGE = "klettres-data"
KLETTRES_ROOT = Path("/usr/share/klettres")
RATE = 16000


def median_f0(clips: list[np.ndarray], max_clips: int = 40) -> float | None:
    """
    Median F0 in Hz over the voiced frames of (at most `max_clips` of) the clips, by pyin, or None where nothing is
    voiced: a rough guide to a speaker's sex (octave errors on creaky or noisy clips pull it down).
    """
    voiced = []
    for audio in clips[:max_clips]:
        f0, is_voiced, _ = librosa.pyin(audio, fmin=60.0, fmax=500.0, sr=RATE, frame_length=1024)
        voiced.append(f0[is_voiced & np.isfinite(f0)])
    values = np.concatenate(voiced) if voiced else np.zeros(0)
    return round(float(np.median(values)), 1) if values.size else None


def build_speaker(language_dir: Path, out_dir: Path, manifest: dict) -> dict:
    """Every `alpha/` and `syllab/` clip of one language → 16 kHz FLAC in `out_dir` (existing ones kept)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(path for path in language_dir.rglob("*.ogg") if path.parent.name in ("alpha", "syllab"))
    clips, skipped = [], []
    for source in sources:
        target = out_dir / f"{source.parent.name}__{source.stem}.flac"
        if target.exists():
            clips.append(sf.read(target, dtype="float32")[0])
            continue
        audio, _ = load_audio(source, sampling_rate=RATE)
        trimmed, _ = librosa.effects.trim(audio, top_db=40)
        if trimmed.size < RATE // 10:  # a silent or broken clip: nothing to learn from
            skipped.append(source.name)
            continue
        save_audio(target, trimmed, RATE)
        clips.append(trimmed)
    summary = {
        **manifest,
        "files": len(clips),
        "skipped": skipped,
        "minutes": round(sum(clip.size for clip in clips) / RATE / 60, 2),
        "median_f0_hz": median_f0(clips),
        "sampling_rate": RATE,
        "format": "FLAC, 16-bit, mono",
    }
    (out_dir / "manifest.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--languages", nargs="+", help="language folders of klettres-data (default: all with audio)")
    parser.add_argument("--install", action="store_true", help="apt-get install klettres-data if it is missing")
    args = parser.parse_args()
    if not shutil.which("dpkg"):
        raise SystemExit("This script reads a Debian package: it needs dpkg (Debian or Ubuntu).")
    ensure_installed([PACKAGE], args.install)
    available = sorted(path.name for path in KLETTRES_ROOT.iterdir() if (path / "alpha").is_dir())
    languages = args.languages or available
    unknown = sorted(set(languages) - set(available))
    if unknown:
        raise SystemExit(f"klettres-data has no audio for {unknown}; it has {available}.")
    manifest = {"source_package": PACKAGE, "source_version": package_version(PACKAGE), "license": license_of(PACKAGE)}
    for language in languages:
        speaker = f"klettres-{language}"
        summary = build_speaker(
            KLETTRES_ROOT / language, args.out_dir / speaker, {"speaker": speaker, "language": language, **manifest}
        )
        print(
            f"{speaker}: {summary['files']} clips, {summary['minutes']} min, median F0 {summary['median_f0_hz']} Hz,"
            f" license {summary['license']} → {args.out_dir / speaker}"
        )


if __name__ == "__main__":
    main()
