"""Hold out every Nth file of each corpus folder for evaluation, so model cards score audio no model trained on.

    python training/data/split_heldout.py CORPUS_DIR HELDOUT_DIR [--every 20]

Moves (never copies) every Nth audio file, in sorted order, of each folder directly below CORPUS_DIR into
HELDOUT_DIR/<folder>/. Idempotent: a rerun after a corpus builder restored files moves the same files out again,
so training folders and the held-out set never overlap. Folders holding the same file names (the instrument
renderings of one piece) lose the same pieces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from melgan_hf.audio import AUDIO_EXTENSIONS


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus_dir", type=Path)
    parser.add_argument("heldout_dir", type=Path)
    parser.add_argument("--every", type=int, default=20, help="hold out every Nth file (default 20: 5 %%)")
    args = parser.parse_args()
    if args.every < 2:
        raise SystemExit("--every must be at least 2: every file held out leaves nothing to train on.")
    folders = sorted(path for path in args.corpus_dir.iterdir() if path.is_dir())
    if not folders:
        raise SystemExit(f"{args.corpus_dir} holds no folders: give the folder a corpus builder wrote.")
    for folder in folders:
        kept, held = split_folder(folder, args.heldout_dir / folder.name, args.every)
        print(f"{folder.name}: {kept} files for training, {held} held out → {args.heldout_dir / folder.name}")


if __name__ == "__main__":
    main()
