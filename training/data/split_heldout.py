"""Hold out audio for evaluation, so model cards score audio no model trained on: whole speakers, or every Nth file.

    python training/data/split_heldout.py CORPUS_DIR HELDOUT_DIR [--every 20]
    python training/data/split_heldout.py CORPUS_DIR HELDOUT_DIR --speakers klettres-fr klettres-ru ... [--join 4]

Without `--speakers`: moves (never copies) every Nth audio file, in sorted order, of each folder directly below
CORPUS_DIR into HELDOUT_DIR/<folder>/. Idempotent: a rerun after a corpus builder restored files moves the same files
out again, so training folders and the held-out set never overlap. Folders holding the same file names (the
instrument renderings of one piece) lose the same pieces.

With `--speakers`: each named folder (a speaker or voice) leaves the corpus whole. Its clips are joined, in sorted
order with short pauses, into HELDOUT_DIR/<folder>/joined_NNN.flac of at least `--join` seconds (short clips make PESQ
unstable), beside its manifest and, where the folder's `transcripts.tsv` has every clip's text, joined_NNN.txt (the
words spoken, for WER); the folder is then removed from CORPUS_DIR (again on a rerun after a rebuild).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from melgan_hf.audio import AUDIO_EXTENSIONS, load_audio, save_audio

PAUSE_SECONDS = 0.15  # between joined clips


def split_folder(folder: Path, heldout: Path, every: int) -> tuple[int, int]:
    """Move the held-out files of one folder; returns (files left for training, files held out)."""
    heldout.mkdir(parents=True, exist_ok=True)
    audio = sorted(path for path in folder.iterdir() if path.suffix.lower() in AUDIO_EXTENSIONS)
    held_before = {path.name for path in heldout.iterdir()}
    # Count positions over training and held-out files together, so a rerun picks the same files; whatever was held
    # out before stays held out even if new files shifted the positions.
    everything = sorted({path.name for path in audio} | held_before)
    chosen = set(everything[every - 1 :: every]) | held_before
    for path in audio:
        if path.name in chosen:
            path.replace(heldout / path.name)
    return sum(path.name not in chosen for path in audio), len(list(heldout.iterdir()))


def read_transcripts(folder: Path) -> dict[str, str]:
    """`file → text` from a corpus builder's `transcripts.tsv` in `folder` (empty without one)."""
    path = folder / "transcripts.tsv"
    if not path.is_file():
        return {}
    rows = (line.split("\t", 1) for line in path.read_text().splitlines()[1:] if "\t" in line)
    return {name: text.strip() for name, text in rows}


def hold_out_speaker(folder: Path, heldout: Path, min_seconds: float) -> int:
    """
    Join a speaker's clips into files of at least `min_seconds` in `heldout` (mono, at the first clip's rate), then
    remove the folder from the corpus. Returns the number of joined files; an existing held-out folder is kept.
    """
    clips = sorted(path for path in folder.iterdir() if path.suffix.lower() in AUDIO_EXTENSIONS)
    if not heldout.is_dir() and clips:
        partial = heldout.with_name(f"{heldout.name}.partial")  # renamed into place when complete
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        rate = load_audio(clips[0])[1]
        pause = np.zeros(int(PAUSE_SECONDS * rate), np.float32)
        texts = read_transcripts(folder)
        groups: list[list[np.ndarray]] = [[]]
        group_texts: list[list[str | None]] = [[]]
        for clip in clips:
            if sum(part.size for part in groups[-1]) >= min_seconds * rate:
                groups.append([])
                group_texts.append([])
            groups[-1] += [load_audio(clip, sampling_rate=rate)[0], pause]
            group_texts[-1].append(texts.get(clip.name))
        if len(groups) > 1 and sum(part.size for part in groups[-1]) < min_seconds * rate:
            remainder, remainder_texts = groups.pop(), group_texts.pop()  # a short remainder joins the file before it
            groups[-1] += remainder
            group_texts[-1] += remainder_texts
        for index, (group, text) in enumerate(zip(groups, group_texts, strict=True)):
            save_audio(partial / f"joined_{index:03d}.flac", np.concatenate(group[:-1]), rate)
            if texts and None not in text:  # the known words, for `evaluate convert`'s WER (clip.txt beside clip)
                (partial / f"joined_{index:03d}.txt").write_text(" ".join(text) + "\n")
        manifest = json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").is_file() else {}
        manifest.update(held_out="whole speaker", joined_from=len(clips), joined_files=len(groups))
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        partial.rename(heldout)
    shutil.rmtree(folder)
    return len(list(heldout.glob("joined_*.flac"))) if heldout.is_dir() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus_dir", type=Path)
    parser.add_argument("heldout_dir", type=Path)
    parser.add_argument("--every", type=int, default=20, help="hold out every Nth file (default 20: 5 %%)")
    parser.add_argument("--speakers", nargs="+", help="hold out these folders whole (speakers, voices) instead")
    parser.add_argument("--join", type=float, default=4.0, help="with --speakers: seconds per joined file (4)")
    args = parser.parse_args()
    if args.every < 2:
        raise SystemExit("--every must be at least 2: every file held out leaves nothing to train on.")
    folders = sorted(path for path in args.corpus_dir.iterdir() if path.is_dir())
    if not folders:
        raise SystemExit(f"{args.corpus_dir} holds no folders: give the folder a corpus builder wrote.")
    if args.speakers:
        for speaker in args.speakers:
            folder, heldout = args.corpus_dir / speaker, args.heldout_dir / speaker
            if not folder.is_dir() and not heldout.is_dir():
                raise SystemExit(f"{speaker}: no such folder in {args.corpus_dir} (and not held out before).")
            joined = hold_out_speaker(folder, heldout, args.join) if folder.is_dir() else "already"
            print(f"{speaker}: held out whole, {joined} joined files → {heldout}")
        return
    for folder in folders:
        kept, held = split_folder(folder, args.heldout_dir / folder.name, args.every)
        print(f"{folder.name}: {kept} files for training, {held} held out → {args.heldout_dir / folder.name}")


if __name__ == "__main__":
    main()
