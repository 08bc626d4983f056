"""Corpus scripts: decoding, transcripts, manifests and idempotence, on generated G.722 files."""

import json
import shutil
from pathlib import Path

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


needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="Debian's flite is not installed")
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").is_file(),
    reason="Debian's fluidsynth and fluid-soundfont-gm are not installed",
)


@needs_flite
def test_synthetic_voices_are_parallel_and_idempotent(tmp_path) -> None:
    from training.data.build_synthetic_voices import VOICES, build_voice

    sentences = ["Hello there.", "The train leaves at nine."]
    manifest = build_voice("flite-slt", VOICES["flite-slt"], sentences, tmp_path / "flite-slt")
    assert manifest["files"] == 2 and manifest["sampling_rate"] == 16000 and "BSD" in manifest["license"]
    rows = (tmp_path / "flite-slt" / "transcripts.tsv").read_text().splitlines()
    assert rows[1:] == ["0000.wav\tHello there.", "0001.wav\tThe train leaves at nine."]
    audio, rate = sf.read(tmp_path / "flite-slt" / "0001.wav")
    assert rate == 16000 and audio.size > 0.5 * rate and np.abs(audio).max() > 0.05
    mtime = (tmp_path / "flite-slt" / "0000.wav").stat().st_mtime_ns
    build_voice("flite-slt", VOICES["flite-slt"], sentences, tmp_path / "flite-slt")
    assert (tmp_path / "flite-slt" / "0000.wav").stat().st_mtime_ns == mtime


@needs_flite
def test_voices_can_say_a_speakers_prompts_under_the_recordings_names(tmp_path) -> None:
    from training.data.build_synthetic_voices import VOICES, build_voice, read_names, read_sentences

    transcripts = tmp_path / "transcripts.tsv"
    transcripts.write_text("file\ttext\nadded.flac\tAdded.\nblank.flac\t \nvm-goodbye.flac\tGoodbye.\n")
    sentences, names = read_sentences(transcripts, None), read_names(transcripts, None)
    assert list(zip(names, sentences, strict=True)) == [("added", "Added."), ("vm-goodbye", "Goodbye.")]
    build_voice("flite-slt", VOICES["flite-slt"], sentences, tmp_path / "slt", names=names)
    rows = (tmp_path / "slt" / "transcripts.tsv").read_text().splitlines()
    assert rows[1:] == ["added.wav\tAdded.", "vm-goodbye.wav\tGoodbye."]


@needs_flite
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="Debian's espeak-ng is not installed")
def test_labelled_voices_carry_phone_timings_and_leave_out_every_nth_sentence(tmp_path) -> None:
    from melgan_hf.phones import PHONE_INDEX, SILENCE, read_phone_intervals
    from training.data.build_synthetic_voices import VOICES, build_voice

    sentences = ["Hello there.", "The train leaves at nine.", "Please hold.", "Thank you for calling."]
    for name, command in (("flite-slt", VOICES["flite-slt"]), ("espeak-fr-m3", ["espeak-ng", "-v", "fr+m3"])):
        out = tmp_path / name
        manifest = build_voice(name, command, sentences, out, labels=True, heldout_every=2)
        assert manifest["files"] == 2 and manifest["phone_labels"] and not manifest["unlabelled"]
        assert sorted(path.name for path in out.glob("*.wav")) == ["0001.wav", "0003.wav"]  # 0 and 2 held out
        for clip in out.glob("*.wav"):
            intervals = read_phone_intervals(clip.with_suffix(".phones.tsv"))
            assert intervals[0][0] == 0 and intervals[-1][1] == pytest.approx(sf.info(clip).duration, abs=1e-3)
            assert all(phone in PHONE_INDEX for *_, phone in intervals)
            assert sum(phone != SILENCE for *_, phone in intervals) >= 5
        assert read_phone_intervals(out / "0001.phones.tsv")[1][2] == "ð"  # "The": ð (espeak-ng fr switches to English)
    # The test voice's side: only the held-out sentences, and never a non-speech prompt's description.
    held_out = build_voice(
        "flite-slt", VOICES["flite-slt"], [*sentences, "[beep]"], tmp_path / "test-voice", heldout_every=2,
        heldout_only=True,
    )  # fmt: skip
    assert held_out["files"] == 2
    assert sorted(path.name for path in (tmp_path / "test-voice").glob("*.wav")) == ["0000.wav", "0002.wav"]
    (tmp_path / "bad.phones.tsv").write_text("start\tend\tphone\n0.0\t0.1\tQ\n")
    with pytest.raises(ValueError, match="line 2"):
        read_phone_intervals(tmp_path / "bad.phones.tsv")


@needs_fluidsynth
def test_instruments_render_the_same_piece_with_different_timbres(tmp_path) -> None:
    pytest.importorskip("music21")
    from melgan_hf import MelGANFeatureExtractor
    from melgan_hf.evaluation import mel_spectral_centroid
    from training.data.build_instrument_corpus import build_instrument, chorales

    pieces = [(name, score.measures(1, 4)) for name, score in chorales(1)]
    features = MelGANFeatureExtractor()
    centroids = {}
    for instrument in ("piano", "flute"):
        manifest = build_instrument(instrument, pieces, tmp_path / instrument)
        assert manifest["files"] == 1 and "MIT" in manifest["license"]
        audio, rate = sf.read(tmp_path / instrument / f"{pieces[0][0]}.wav", dtype="float32")
        assert rate == 22050 and np.abs(audio).max() > 0.01
        centroids[instrument] = mel_spectral_centroid(features(audio, sampling_rate=rate)["input_features"][0])
    assert abs(centroids["piano"] - centroids["flute"]) > 1.0, centroids


def test_split_heldout_moves_every_nth_file_and_stays_disjoint_after_a_rebuild(tmp_path) -> None:
    from training.data.split_heldout import split_folder

    corpus, heldout = tmp_path / "corpus" / "piano", tmp_path / "heldout" / "piano"
    corpus.mkdir(parents=True)
    names = [f"piece{index:02d}.wav" for index in range(10)]
    for name in names:
        (corpus / name).write_bytes(b"audio")
    assert split_folder(corpus, heldout, every=4) == (8, 2)
    assert sorted(path.name for path in heldout.iterdir()) == ["piece03.wav", "piece07.wav"]
    # A corpus builder that restores the held-out files (it skips only files that exist) must not leak them back.
    (corpus / "piece03.wav").write_bytes(b"audio")
    assert split_folder(corpus, heldout, every=4) == (8, 2)
    assert not {path.name for path in corpus.iterdir()} & {path.name for path in heldout.iterdir()}


def test_klettres_speaker_becomes_trimmed_16k_clips_with_a_manifest(tmp_path) -> None:
    from training.data.build_klettres_corpus import build_speaker

    language = tmp_path / "klettres" / "xx"
    for folder, name, notes in (("alpha", "A", (220.0,)), ("syllab", "ba", (230.0,)), ("pics", "skip", (1.0,))):
        (language / folder).mkdir(parents=True)
        clip = np.concatenate([np.zeros(22050), synthetic_melody(44100, 0.6, notes=notes), np.zeros(22050)])
        sf.write(language / folder / f"{name}.ogg", clip, 44100, format="OGG", subtype="VORBIS")
    out = tmp_path / "corpus" / "klettres-xx"
    summary = build_speaker(language, out, {"speaker": "klettres-xx", "license": "GPL-2+"})
    assert sorted(path.name for path in out.glob("*.flac")) == ["alpha__A.flac", "syllab__ba.flac"]
    audio, rate = sf.read(out / "alpha__A.flac")
    assert rate == 16000 and 0.5 * rate < audio.size < 0.8 * rate  # the half-second silences were trimmed
    assert summary["license"] == "GPL-2+" and summary["files"] == 2
    assert summary["median_f0_hz"] == pytest.approx(225.0, rel=0.05)
    assert json.loads((out / "manifest.json").read_text())["speaker"] == "klettres-xx"
    mtime = (out / "alpha__A.flac").stat().st_mtime_ns
    build_speaker(language, out, {"speaker": "klettres-xx", "license": "GPL-2+"})
    assert (out / "alpha__A.flac").stat().st_mtime_ns == mtime


def test_held_out_speakers_leave_the_corpus_whole_as_joined_files(tmp_path) -> None:
    from training.data.split_heldout import PAUSE_SECONDS, hold_out_speaker

    corpus, heldout = tmp_path / "corpus" / "speaker", tmp_path / "heldout" / "speaker"

    def build() -> None:
        corpus.mkdir(parents=True)
        for index in range(13):
            sf.write(corpus / f"clip{index:02d}.flac", synthetic_melody(16000, 0.7), 16000)
        (corpus / "manifest.json").write_text(json.dumps({"speaker": "speaker", "license": "GPL-2+"}))
        rows = "".join(f"clip{index:02d}.flac\tword{index}\n" for index in range(13))
        (corpus / "transcripts.tsv").write_text("file\ttext\n" + rows)

    build()
    assert hold_out_speaker(corpus, heldout, min_seconds=4.0) == 2  # 13 × 0.85 s: one file of 4.25 s, one of 6.8 s
    # the words of each joined file beside it: clips 0-4 in the first, 5-12 in the second
    texts = [path.read_text().split() for path in sorted(heldout.glob("joined_*.txt"))]
    assert texts == [[f"word{index}" for index in range(5)], [f"word{index}" for index in range(5, 13)]]
    assert not corpus.exists()
    lengths = [sf.info(path).duration for path in sorted(heldout.glob("joined_*.flac"))]
    assert min(lengths) >= 4.0
    assert sum(lengths) == pytest.approx(13 * 0.7 + 11 * PAUSE_SECONDS, abs=1e-3)  # no pause after a file's last clip
    assert json.loads((heldout / "manifest.json").read_text())["joined_from"] == 13
    build()  # a corpus builder restores the folder: the rerun removes it again and keeps the held-out files
    before = {path.name: path.stat().st_mtime_ns for path in heldout.iterdir()}
    assert hold_out_speaker(corpus, heldout, min_seconds=4.0) == 2
    assert not corpus.exists() and {path.name: path.stat().st_mtime_ns for path in heldout.iterdir()} == before
