"""Real-speech corpus from Debian's Asterisk prompt packages: one folder per speaker, 16 kHz FLAC, no download.

    python training/data/build_speech_corpus.py OUT_DIR [--languages en es fr it] [--install]

Each language's prompts (asterisk-core-sounds-LANG-g722, G.722 at 16 kHz, one professional speaker per language) are
decoded with the `G722` package into OUT_DIR/<speaker>/…flac, with `transcripts.tsv` where the text package ships
them (asterisk-core-sounds-LANG) and `manifest.json` naming the source package, its version and its license
(CC-BY-SA-3.0). Re-running skips files that are already there. `--install` installs missing packages with apt-get.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from melgan_hf.audio import save_audio

G722_RATE = 16000
G722_BIT_RATE = 64000
SOUNDS_ROOT = Path("/usr/share/asterisk/sounds")


def decode_g722(path: Path) -> np.ndarray:
    """A raw G.722 file (64 kbit/s) → float32 samples at 16 kHz."""
    try:
        import G722
    except ImportError as error:
        raise SystemExit("The G722 package is needed: pip install 'melgan-hf[data]'") from error
    pcm = np.asarray(G722.G722(G722_RATE, G722_BIT_RATE).decode(path.read_bytes()), dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def parse_transcripts(text: str) -> dict[str, str]:
    """`name: text` lines of core-sounds-LANG.txt (`;` starts a comment) → {name: text}."""
    transcripts = {}
    for line in text.splitlines():
        if line.startswith(";") or ":" not in line:
            continue
        name, _, sentence = line.partition(":")
        if name.strip() and sentence.strip():
            transcripts[name.strip()] = re.sub(r"\s+", " ", sentence.strip())
    return transcripts


def package_files(package: str) -> list[Path]:
    result = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    return [Path(line) for line in result.stdout.splitlines()] if result.returncode == 0 else []


def package_version(package: str) -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return result.stdout.strip()


def ensure_installed(packages: list[str], install: bool) -> None:
    missing = [package for package in packages if not package_files(package)]
    if not missing:
        return
    if not install:
        raise SystemExit(
            f"Missing Debian packages: {' '.join(missing)}. Run: apt-get install {' '.join(missing)}"
            " (or pass --install)."
        )
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True)


def build_speaker(
    sound_files: list[Path], sound_root: Path, transcripts: dict[str, str], out_dir: Path, manifest: dict
) -> dict:
    """Decode every prompt below `sound_root` into `out_dir` (skipping existing ones); write transcripts+manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds, rows = 0.0, []
    for source in sorted(sound_files):
        name = source.relative_to(sound_root).with_suffix("").as_posix()
        target = out_dir / (name.replace("/", "__") + ".flac")
        if target.exists():
            seconds += _duration(target)
        else:
            audio = decode_g722(source)
            save_audio(target, audio, G722_RATE)
            seconds += audio.size / G722_RATE
        if name in transcripts:
            rows.append(f"{target.name}\t{transcripts[name]}")
    if rows:
        (out_dir / "transcripts.tsv").write_text("file\ttext\n" + "\n".join(rows) + "\n")
    summary = {
        **manifest,
        "files": len(sound_files),
        "minutes": round(seconds / 60, 2),
        "transcribed": len(rows),
        "sampling_rate": G722_RATE,
        "format": "FLAC, 16-bit, mono",
    }
    (out_dir / "manifest.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _duration(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def license_of(package: str) -> str:
    """The license of the recordings: the `Files: *` stanza of the package's Debian copyright file."""
    copyright_file = Path("/usr/share/doc") / package / "copyright"
    if not copyright_file.is_file():
        return "unknown"
    for stanza in re.split(r"\n\s*\n", copyright_file.read_text(errors="replace")):
        if re.search(r"^Files:\s*\*\s*$", stanza, flags=re.MULTILINE):
            found = re.search(r"^License:\s*(\S+)", stanza, flags=re.MULTILINE)
            if found:
                return found.group(1)
    return "unknown"


def build_language(language: str, out_root: Path) -> dict:
    audio_package, text_package = f"asterisk-core-sounds-{language}-g722", f"asterisk-core-sounds-{language}"
    files = [path for path in package_files(audio_package) if path.suffix == ".g722"]
    if not files:
        raise SystemExit(f"{audio_package} holds no .g722 files.")
    speaker_dir = next(parent for parent in files[0].parents if parent.parent == SOUNDS_ROOT)
    transcripts: dict[str, str] = {}
    for path in package_files(text_package):
        if path.name.startswith("core-sounds-") and path.name.endswith(".txt.gz"):
            transcripts = parse_transcripts(gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace"))
    manifest = {
        "speaker": speaker_dir.name,
        "language": language,
        "source_package": audio_package,
        "source_version": package_version(audio_package),
        "transcripts_package": text_package if transcripts else None,
        "license": license_of(audio_package),
    }
    return build_speaker(files, speaker_dir, transcripts, out_root / speaker_dir.name, manifest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--languages", nargs="+", default=["en", "es", "fr", "it"])
    parser.add_argument("--install", action="store_true", help="apt-get install the packages that are missing")
    args = parser.parse_args()
    if not shutil.which("dpkg"):
        raise SystemExit("This script reads Debian packages: it needs dpkg (Debian or Ubuntu).")
    packages = [f"asterisk-core-sounds-{lang}{suffix}" for lang in args.languages for suffix in ("-g722", "")]
    ensure_installed(packages, args.install)
    for language in args.languages:
        summary = build_language(language, Path(args.out_dir))
        print(
            f"{summary['speaker']}: {summary['files']} files, {summary['minutes']} min, {summary['transcribed']}"
            f" transcribed, license {summary['license']} → {Path(args.out_dir) / summary['speaker']}"
        )


if __name__ == "__main__":
    main()
