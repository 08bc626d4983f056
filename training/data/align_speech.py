"""
Phone timings for speech: flite reports its own (`-psdur`), and recordings with a known English transcript get a
forced alignment from pocketsphinx's bundled en-us model (the `[eval]` extra). Timings are `(start_s, end_s, phone)`
in ARPAbet, for `melgan_hf.phones.arpabet_to_classes`.

    audio, rate, phones = flite_phones("Please leave a message.", "slt")
    phones = PocketsphinxAligner().align(audio, rate, "please leave a message")  # None when it cannot

    python training/data/align_speech.py FOLDER [FOLDER ...]   # English recordings with a transcripts.tsv

writes <clip>.phones.tsv (`melgan_hf.phones` classes) beside every clip it can align, and reports what it could not.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from melgan_hf.audio import load_audio
from melgan_hf.evaluation import JUDGE_RATE, decode_utterance, judge_pcm16, words_of
from melgan_hf.phones import arpabet_to_classes, split_into_classes, write_phone_intervals

Phones = list[tuple[float, float, str]]
_FRAME_SECONDS = 0.01  # pocketsphinx's 100 frames per second


@functools.cache
def flite_voices() -> tuple[str, ...]:
    """The voices this flite has (`flite -lv`), asked once per process."""
    return tuple(subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout.split(":", 1)[-1].split())


def gapless(ends: Iterable[Sequence[str]], duration: float) -> Phones:
    """A synthesizer's (phone, end time) pairs, in order → intervals covering the audio without gaps: each phone
    starts where the one before ended, ends are clipped to `duration`, nameless and empty phones are dropped, and the
    last one reaches the end of the audio."""
    phones, start = [], 0.0
    for name, end_text in ends:
        end = min(float(end_text), duration)
        if name and end > start:
            phones.append((start, end, name))
            start = end
    if phones and phones[-1][1] < duration:
        phones[-1] = (phones[-1][0], duration, phones[-1][2])
    return phones


def flite_phones(text: str, voice: str) -> tuple[np.ndarray, int, Phones]:
    """`text` spoken by flite `voice` (kal, kal16, awb, rms, slt) → audio, its rate and flite's own phone timings
    (`-psdur` prints `phone:end_time` pairs), covering the audio without gaps."""
    if shutil.which("flite") is None:
        raise RuntimeError("flite is not installed (Debian: apt install flite)")
    if not text.strip():
        raise ValueError("flite needs some text to speak")
    voices = flite_voices()
    if voice not in voices:  # flite itself falls back to its default voice without a word
        raise ValueError(f"flite has no voice {voice!r} (it has {', '.join(voices)})")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        result = subprocess.run(
            ["flite", "-voice", voice, "-psdur", "-t", text, "-o", str(path)], capture_output=True, text=True
        )
        if result.returncode != 0 or not path.is_file():
            raise ValueError(f"flite failed for voice {voice!r}: {result.stderr.strip() or result.stdout.strip()}")
        audio, rate = load_audio(path)
    ends = (pair.rpartition(":")[::2] for pair in result.stdout.split())
    return audio, rate, gapless(ends, len(audio) / rate)


def festival_phones(text: str, voice: str) -> tuple[np.ndarray, int, Phones]:
    """`text` spoken by Festival `voice` (`ked_diphone` from Debian's festvox-kdlpc16k, …) → audio, its rate and
    Festival's own segment timings (its Segment relation: radio-phoneset ARPAbet, `pau` for silence), gapless."""
    if shutil.which("festival") is None:
        raise RuntimeError("festival is not installed (Debian: apt install festival festvox-kdlpc16k)")
    if not text.strip():
        raise ValueError("festival needs some text to speak")
    if not voice.replace("_", "").isalnum():
        raise ValueError(f"not a Festival voice name: {voice!r}")
    quoted = text.replace("\\", " ").replace('"', " ")
    with tempfile.TemporaryDirectory() as folder:
        path, script = Path(folder) / "speech.wav", Path(folder) / "say.scm"
        script.write_text(
            f"(voice_{voice})\n"
            f'(set! utt (utt.synth (Utterance Text "{quoted}")))\n'
            f'(utt.save.wave utt "{path}" \'riff)\n'
            '(mapcar (lambda (s) (format t "SEGMENT %s %f\\n" (item.name s) (item.feat s "end")))'
            " (utt.relation.items utt 'Segment))\n"
        )
        result = subprocess.run(["festival", "-b", str(script)], capture_output=True, text=True, timeout=120)
        if result.returncode != 0 or not path.is_file() or "SIOD ERROR" in result.stdout + result.stderr:
            raise ValueError(f"festival failed for voice {voice!r}: {(result.stderr or result.stdout).strip()}")
        audio, rate = load_audio(path)
    ends = (line.split()[1:] for line in result.stdout.splitlines() if line.startswith("SEGMENT "))
    return audio, rate, gapless(ends, len(audio) / rate)


class PocketsphinxAligner:
    """
    Forced alignment with pocketsphinx's en-us model: one decoder kept, and a fresh one on failure (a decoder reused
    across utterances drifts, and fails utterances that a fresh one aligns).
    """

    def __init__(self) -> None:
        import pocketsphinx  # the [eval] extra

        self._pocketsphinx = pocketsphinx
        self._decoder = self._new_decoder()

    def _new_decoder(self):  # noqa: ANN202 (pocketsphinx.Decoder)
        return self._pocketsphinx.Decoder(samprate=JUDGE_RATE, logfn="/dev/null")

    def unknown_words(self, transcript: str) -> list[str]:
        """The transcript's words missing from the aligner's dictionary (numbers are spelt out first)."""
        return [word for word in words_of(transcript) if self._decoder.lookup_word(word) is None]

    def align(self, audio: np.ndarray, sampling_rate: int, transcript: str) -> Phones | None:
        """Phone timings of `audio` speaking `transcript`, or None: unknown words, no words, or no alignment."""
        words = words_of(transcript)
        if not words or self.unknown_words(transcript):
            return None
        pcm = judge_pcm16(audio, sampling_rate)
        for attempt in range(2):
            if attempt:
                self._decoder = self._new_decoder()
            try:
                return self._align_once(pcm, " ".join(words), len(audio) / sampling_rate)
            except RuntimeError:
                continue
        return None

    def _align_once(self, pcm: bytes, text: str, duration: float) -> Phones:
        decoder = self._decoder
        decoder.set_align_text(text)
        decode_utterance(decoder, pcm)  # pass 1: the words
        if decoder.hyp() is None:
            raise RuntimeError("no alignment")
        decoder.set_alignment()  # raises RuntimeError when pass 1 found no word alignment
        decode_utterance(decoder, pcm)  # pass 2: the phones in the words (reading hyp() after it crashes)
        phones = [
            (phone.start * _FRAME_SECONDS, min((phone.start + phone.duration) * _FRAME_SECONDS, duration), phone.name)
            for phone in decoder.get_alignment().phones()
        ]
        if not phones:
            raise RuntimeError("no phones")
        return phones


def align_folder(folder: Path, aligner: PocketsphinxAligner) -> dict[str, float]:
    """Label every clip of `folder`'s transcripts.tsv that aligns; counts of aligned and skipped clips, and minutes."""
    from training.data.split_heldout import read_transcripts

    texts = read_transcripts(folder)
    if not texts:
        raise SystemExit(f"{folder}: no transcripts.tsv (file<TAB>text) to align against")
    report = {"aligned": 0, "unknown_words": 0, "failed": 0, "aligned_minutes": 0.0}
    for name, text in sorted(texts.items()):
        clip = folder / name
        labels = clip.with_suffix(".phones.tsv")
        if labels.exists() or not clip.is_file():
            continue
        if aligner.unknown_words(text):
            report["unknown_words"] += 1
            continue
        audio, rate = load_audio(clip)
        phones = aligner.align(audio, rate, text)
        if phones is None:
            report["failed"] += 1
            continue
        write_phone_intervals(labels, split_into_classes((a, b, arpabet_to_classes(p)) for a, b, p in phones))
        report["aligned"] += 1
        report["aligned_minutes"] += len(audio) / rate / 60
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    aligner = PocketsphinxAligner()
    for folder in args.folders:
        report = align_folder(folder, aligner)
        print(
            f"{folder}: {report['aligned']} clips aligned ({report['aligned_minutes']:.1f} min new), "
            f"{report['unknown_words']} with words outside the dictionary, {report['failed']} failed"
        )


if __name__ == "__main__":
    main()
