"""Parallel synthetic-speech corpus: the same sentences in several flite, espeak-ng and Festival voices, one folder
each.

    python training/data/build_synthetic_voices.py OUT_DIR [--sentences FILE] [--max-sentences N]
    python training/data/build_synthetic_voices.py OUT_DIR --sentences fr/transcripts.tsv --voices \
        --espeak-voices fr fr+m3 fr+f2 --labels --heldout-every 10

Sentences come from FILE (one per line, or a `transcripts.tsv` written by build_speech_corpus.py) or a built-in
list. Each voice gets OUT_DIR/<engine>-<voice>/NNNN.wav at the engine's rate, `transcripts.tsv` and `manifest.json`
(package, version, license). Existing files are kept, so re-running is cheap. Needs Debian's flite and espeak-ng
(`festival-ked`: festival and festvox-kdlpc16k).

`--keep-names` (with a `transcripts.tsv`) names each clip after the recording it transcribes (`agent-alreadyon.wav`):
other voices saying a speaker's own prompts, which `train_ppg_decoder.py --parallel OUT_DIR` pairs with them.

`--espeak-voices` adds any espeak-ng voice and variant (`espeak-ng --voices`, `+m1` … `+f5`). `--labels` also writes
NNNN.phones.tsv beside each clip, its phones in `melgan_hf.phones` classes with the engine's own timings (espeak-ng's
phoneme events, flite's `-psdur`, Festival's Segment relation): frame targets for a phone classifier.
`--heldout-every N` leaves out every Nth sentence (0, N, 2N, …) in every voice, so an evaluation can use sentences no
voice trained on.
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
from melgan_hf.phones import arpabet_to_classes, ipa_to_classes, split_into_classes, write_phone_intervals
from training.data.build_speech_corpus import package_version

VOICES = {
    "flite-slt": ["flite", "-voice", "slt"],
    "flite-rms": ["flite", "-voice", "rms"],
    "flite-awb": ["flite", "-voice", "awb"],
    "flite-kal": ["flite", "-voice", "kal"],
    "flite-kal16": ["flite", "-voice", "kal16"],
    "espeak-en-us-m": ["espeak-ng", "-v", "en-us"],
    "espeak-en-us-f": ["espeak-ng", "-v", "en-us+f3"],
    "festival-ked": ["festival", "ked_diphone"],  # Debian's festvox-kdlpc16k: a US male diphone voice
}
# What a build without --voices makes (the corpora of earlier releases); flite's kal voices are asked for by name.
DEFAULT_VOICES = ["flite-slt", "flite-rms", "flite-awb", "espeak-en-us-m", "espeak-en-us-f"]
PACKAGES = {
    "flite": ("flite", "BSD-style (CMU Flite license)"),
    "espeak-ng": ("espeak-ng", "GPL-3+"),
    "festival": ("festvox-kdlpc16k", "MIT-style (CMU/CSTR festvox license)"),
}
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


def read_names(path: Path, limit: int | None) -> list[str]:
    """The recordings' stems of a `transcripts.tsv`, in the order `read_sentences` gives their sentences."""
    rows = [line.split("\t", 1) for line in path.read_text().splitlines()[1:] if "\t" in line]
    return [Path(name).stem for name, sentence in rows if sentence.strip()][:limit]


def synthesize(command: list[str], sentence: str, target: Path, labels: bool = False) -> None:
    """Run the engine into a temporary wav, then store it through save_audio (atomic, validated); with `labels`,
    through the engine's timed interface, writing the phone classes beside it (ValueError: a phone it cannot map)."""
    engine, voice = command[0], command[-1]
    if labels or engine == "festival":  # Festival is always driven through its script interface
        if engine == "flite":
            from training.data.align_speech import flite_phones

            audio, rate, phones = flite_phones(sentence, voice)
            to_classes = arpabet_to_classes
        elif engine == "festival":
            from training.data.align_speech import festival_phones

            audio, rate, phones = festival_phones(sentence, voice)
            to_classes = arpabet_to_classes
        else:
            from training.data.espeak_events import synthesize as espeak_synthesize

            audio, rate, phones = espeak_synthesize(sentence, voice)
            to_classes = ipa_to_classes
        if labels:  # mapped before anything is saved, so a phone it cannot map leaves no clip behind
            intervals = split_into_classes((start, end, to_classes(name)) for start, end, name in phones)
        save_audio(target, audio, rate)
        if labels:
            write_phone_intervals(target.with_suffix(".phones.tsv"), intervals)
        return
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "raw.wav"
        engine_args = ["-t", sentence, "-o", str(raw)] if command[0] == "flite" else ["-w", str(raw), sentence]
        subprocess.run([*command, *engine_args], check=True, capture_output=True, timeout=120)
        audio, rate = load_audio(raw)
    save_audio(target, audio, rate)


def build_voice(
    name: str,
    command: list[str],
    sentences: list[str],
    out_dir: Path,
    labels: bool = False,
    heldout_every: int = 0,
    heldout_only: bool = False,
    names: list[str] | None = None,
) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds, rate = 0.0, None
    rows, unlabelled = [], []
    for index, sentence in enumerate(sentences):
        if heldout_every and (index % heldout_every == 0) != heldout_only:
            continue
        if sentence.startswith("[") and sentence.endswith("]"):  # a non-speech prompt's description ("[beep]")
            continue
        target = out_dir / f"{names[index] if names else f'{index:04d}'}.wav"
        if not target.exists() or (labels and not target.with_suffix(".phones.tsv").exists()):
            try:
                synthesize(command, sentence, target, labels)
            except ValueError as error:  # a phone outside the inventory: the clip is left out, and reported
                unlabelled.append(f"{index:04d}: {error}")
                continue
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
        "files": len(rows),
        "minutes": round(seconds / 60, 2),
        "sampling_rate": rate,
        "phone_labels": labels,
        "heldout_every": heldout_every or None,
        "unlabelled": unlabelled,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--sentences", type=Path, default=None, help="text file (one per line) or transcripts.tsv")
    parser.add_argument("--max-sentences", type=int, default=None)
    parser.add_argument("--voices", nargs="*", default=DEFAULT_VOICES, choices=list(VOICES))
    parser.add_argument("--espeak-voices", nargs="*", default=[], help="more espeak-ng voices, e.g. fr+m3 es+f2")
    parser.add_argument("--labels", action="store_true", help="also write NNNN.phones.tsv (phone timings)")
    parser.add_argument("--heldout-every", type=int, default=0, help="leave out sentences 0, N, 2N, … (evaluation)")
    parser.add_argument(
        "--heldout-only", action="store_true", help="make only the sentences --heldout-every leaves out (a test voice)"
    )
    parser.add_argument("--keep-names", action="store_true", help="name clips after the tsv's recordings")
    args = parser.parse_args()
    voices = {voice: VOICES[voice] for voice in args.voices}
    voices.update({f"espeak-{voice.replace('+', '-')}": ["espeak-ng", "-v", voice] for voice in args.espeak_voices})
    missing = sorted({command[0] for command in voices.values() if not shutil.which(command[0])})
    if missing:
        raise SystemExit(f"Missing synthesizers: {' '.join(missing)}. Run: apt-get install {' '.join(missing)}")
    if args.heldout_every < 0 or (args.heldout_only and not args.heldout_every):
        raise SystemExit("--heldout-every must be ≥ 0, and > 0 with --heldout-only")
    if args.keep_names and (args.sentences is None or args.sentences.suffix != ".tsv"):
        raise SystemExit("--keep-names needs --sentences transcripts.tsv (it names clips after the tsv's files)")
    sentences = read_sentences(args.sentences, args.max_sentences)
    names = read_names(args.sentences, args.max_sentences) if args.keep_names else None
    for name, command in voices.items():
        out_dir = Path(args.out_dir) / name
        manifest = build_voice(
            name, command, sentences, out_dir, args.labels, args.heldout_every, args.heldout_only, names
        )
        skipped = f", {len(manifest['unlabelled'])} left out (phones outside the inventory)" * bool(
            manifest["unlabelled"]
        )
        print(
            f"{name}: {manifest['files']} files, {manifest['minutes']} min at {manifest['sampling_rate']} Hz{skipped}"
        )


if __name__ == "__main__":
    main()
