"""Parallel instrument-timbre corpus: the same Bach chorales rendered with several General MIDI instruments.

    python training/data/build_instrument_corpus.py OUT_DIR [--pieces 40] [--instruments piano strings ...]

Chorales come from the music21 corpus; each is rendered by fluidsynth with a GM soundfont (fluid-soundfont-gm) into
OUT_DIR/<instrument>/<piece>.wav at 22 050 Hz, with `manifest.json` (sources, versions, licenses). Existing files
are kept, so re-running is cheap. Needs Debian's fluidsynth and fluid-soundfont-gm, and `pip install music21`.
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

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RATE = 22050
# General MIDI programs (0-based).
INSTRUMENTS = {
    "piano": 0,
    "organ": 19,
    "guitar": 24,
    "violin": 40,
    "strings": 48,
    "trumpet": 56,
    "clarinet": 71,
    "flute": 73,
}


def chorales(count: int) -> list[tuple[str, object]]:
    """The first `count` Bach chorales of the music21 corpus, as (name, score)."""
    try:
        from music21 import corpus
    except ImportError as error:
        raise SystemExit("music21 is needed: pip install music21") from error
    pieces = []
    for path in sorted(corpus.getComposer("bach"))[:count]:
        pieces.append((Path(path).stem.replace(".", "_"), corpus.parse(path)))
    return pieces


def render(score: object, program: int, target: Path, soundfont: Path = SOUNDFONT) -> None:
    """Every part of the score played by one GM instrument, through fluidsynth, stored via save_audio."""
    from music21 import instrument

    score = score.__deepcopy__()
    for part in score.parts:
        for old in part.recurse().getElementsByClass(instrument.Instrument):
            part.remove(old, recurse=True)
        player = instrument.Instrument()
        player.midiProgram = program
        part.insert(0, player)
    with tempfile.TemporaryDirectory() as folder:
        midi, raw = Path(folder) / "piece.mid", Path(folder) / "piece.wav"
        score.write("midi", fp=str(midi))
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(RATE), "-F", str(raw), str(soundfont), str(midi)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        audio, rate = load_audio(raw)
    save_audio(target, audio, rate)


def build_instrument(name: str, pieces: list[tuple[str, object]], out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = 0.0
    for piece, score in pieces:
        target = out_dir / f"{piece}.wav"
        if not target.exists():
            render(score, INSTRUMENTS[name], target)
        audio, rate = load_audio(target)
        seconds += audio.size / rate
    import music21

    manifest = {
        "instrument": name,
        "gm_program": INSTRUMENTS[name],
        "music": f"Bach chorales from the music21 {music21.__version__} corpus (public-domain compositions)",
        "soundfont": f"{SOUNDFONT.name} from fluid-soundfont-gm {package_version('fluid-soundfont-gm')} (MIT)",
        "renderer": f"fluidsynth {package_version('fluidsynth')}",
        "license": "MIT (soundfont); see /usr/share/doc/fluid-soundfont-gm/copyright",
        "files": len(pieces),
        "minutes": round(seconds / 60, 2),
        "sampling_rate": RATE,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--pieces", type=int, default=40)
    parser.add_argument("--instruments", nargs="+", default=["piano", "strings"], choices=list(INSTRUMENTS))
    args = parser.parse_args()
    if not shutil.which("fluidsynth") or not SOUNDFONT.is_file():
        raise SystemExit("Needs fluidsynth and the GM soundfont: apt-get install fluidsynth fluid-soundfont-gm")
    pieces = chorales(args.pieces)
    for name in args.instruments:
        manifest = build_instrument(name, pieces, Path(args.out_dir) / name)
        print(f"{name}: {manifest['files']} files, {manifest['minutes']} min")


if __name__ == "__main__":
    main()
