"""Corpus scripts: decoding, transcripts, manifests and idempotence, on generated G.722 files."""

import json

import numpy as np
import pytest
import soundfile as sf

from melgan_hf.audio import synthetic_melody
from training.data.build_speech_corpus import build_speaker, decode_g722, parse_transcripts

G722 = pytest.importorskip("G722")


def write_g722(path, audio: np.ndarray) -> None:
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(G722.G722(16000, 64000).encode(pcm)))


def test_g722_decodes_back_to_the_signal(tmp_path) -> None:
    tone = synthetic_melody(16000, 1.0)
    write_g722(tmp_path / "tone.g722", tone)
    decoded = decode_g722(tmp_path / "tone.g722")
    assert decoded.dtype == np.float32 and abs(decoded.size - tone.size) <= 2
    # G.722 has a short codec delay: compare after aligning by cross-correlation.
    lag = int(np.argmax(np.correlate(decoded[:4000], tone[:4000], mode="full"))) - 3999
    aligned = decoded[lag : lag + 8000] if lag >= 0 else decoded[:8000]
    assert np.corrcoef(aligned, tone[: aligned.size])[0, 1] > 0.95


def test_transcripts_skip_comments_and_blank_lines() -> None:
    text = "; Core sounds\n\nactivated: Activated.\ndigits/1: One.\nbroken line\nempty:   \n"
    assert parse_transcripts(text) == {"activated": "Activated.", "digits/1": "One."}


def test_build_speaker_is_idempotent_and_writes_a_manifest(tmp_path) -> None:
    root = tmp_path / "sounds" / "en_US_f_Test"
    files = [root / "hello.g722", root / "digits" / "1.g722"]
    for index, path in enumerate(files):
        write_g722(path, synthetic_melody(16000, 0.5 + index))
    out = tmp_path / "corpus" / "en_US_f_Test"
    manifest = {"speaker": "en_US_f_Test", "license": "CC-BY-SA-3.0", "source_package": "test"}
    summary = build_speaker(files, root, {"hello": "Hello.", "digits/1": "One."}, out, manifest)
    assert summary["files"] == 2 and summary["minutes"] == pytest.approx(2.0 / 60, abs=0.01)
    assert sorted(p.name for p in out.glob("*.flac")) == ["digits__1.flac", "hello.flac"]
    assert sf.info(out / "hello.flac").samplerate == 16000
    assert (out / "transcripts.tsv").read_text().splitlines()[1:] == ["digits__1.flac\tOne.", "hello.flac\tHello."]
    assert json.loads((out / "manifest.json").read_text())["license"] == "CC-BY-SA-3.0"

    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.flac")}
    again = build_speaker(files, root, {}, out, manifest)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.flac")} == before
    assert again["minutes"] == summary["minutes"]
