"""Parallel synthetic-speech corpus: the same sentences in several flite and espeak-ng voices, one folder each.

    python training/data/build_synthetic_voices.py OUT_DIR [--sentences FILE] [--max-sentences N]

Sentences come from FILE (one per line, or a `transcripts.tsv` written by build_speech_corpus.py) or a built-in
list. Each voice gets OUT_DIR/<engine>-<voice>/NNNN.wav at the engine's rate, `transcripts.tsv` and `manifest.json`
(package, version, license). Existing files are kept, so re-running is cheap. Needs Debian's flite and espeak-ng.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from melgan_hf.audio import load_audio, save_audio
from training.data.build_speech_corpus import package_version

VOICES = {
    "flite-slt": ["flite", "-voice", "slt"],
    "flite-rms": ["flite", "-voice", "rms"],
    "flite-awb": ["flite", "-voice", "awb"],
    "espeak-en-us-m": ["espeak-ng", "-v", "en-us"],
    "espeak-en-us-f": ["espeak-ng", "-v", "en-us+f3"],
}
PACKAGES = {"flite": ("flite", "BSD-style (CMU Flite license)"), "espeak-ng": ("espeak-ng", "GPL-3+")}
DEFAULT_SENTENCES = [
    "Please leave a message after the tone.",
    "The quick brown fox jumps over the lazy dog.",
    "Your call is important to us, please stay on the line.",
    "Seven tired travellers waited for the last train home.",
    "She sells sea shells by the sea shore.",
    "Turn left at the second light, then keep going straight.",
    "A cup of warm tea makes a cold morning better.",
    "The meeting has been moved to Thursday afternoon.",
]


def read_sentences(path: Path | None, limit: int | None) -> list[str]:
    if path is None:
        sentences = DEFAULT_SENTENCES
    else:
        lines = path.read_text().splitlines()
        if path.suffix == ".tsv":
            lines = [line.split("\t", 1)[1] for line in lines[1:] if "\t" in line]
        sentences = [line.strip() for line in lines if line.strip()]
    return sentences[:limit]


def synthesize(command: list[str], sentence: str, target: Path) -> None:
    """Run the engine into a temporary wav, then store it through save_audio (atomic, validated)."""
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "raw.wav"
        engine_args = ["-t", sentence, "-o", str(raw)] if command[0] == "flite" else ["-w", str(raw), sentence]
        subprocess.run([*command, *engine_args], check=True, capture_output=True, timeout=120)
        audio, rate = load_audio(raw)
    save_audio(target, audio, rate)


def build_voice(name: str, command: list[str], sentences: list[str], out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = 0.0
    rows = []
    for index, sentence in enumerate(sentences):
        target = out_dir / f"{index:04d}.wav"
        if not target.exists():
            synthesize(command, sentence, target)
        audio, rate = load_audio(target)
        seconds += audio.size / rate
        rows.append(f"{target.name}\t{sentence}")
    (out_dir / "transcripts.tsv").write_text("file\ttext\n" + "\n".join(rows) + "\n")
    package, license_name = PACKAGES[command[0]]
    manifest = {
        "voice": name,
        "engine": command,
        "source_package": package,
        "source_version": package_version(package),
        "license": f"{license_name}; see /usr/share/doc/{package}/copyright",
        "files": len(sentences),
        "minutes": round(seconds / 60, 2),
        "sampling_rate": rate,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--sentences", type=Path, default=None, help="text file (one per line) or transcripts.tsv")
    parser.add_argument("--max-sentences", type=int, default=None)
    parser.add_argument("--voices", nargs="+", default=list(VOICES), choices=list(VOICES))
    args = parser.parse_args()
    missing = sorted({VOICES[voice][0] for voice in args.voices if not shutil.which(VOICES[voice][0])})
    if missing:
        raise SystemExit(f"Missing synthesizers: {' '.join(missing)}. Run: apt-get install {' '.join(missing)}")
    sentences = read_sentences(args.sentences, args.max_sentences)
    for voice in args.voices:
        manifest = build_voice(voice, VOICES[voice], sentences, Path(args.out_dir) / voice)
        print(f"{voice}: {manifest['files']} files, {manifest['minutes']} min at {manifest['sampling_rate']} Hz")


if __name__ == "__main__":
    main()
