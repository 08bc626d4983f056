"""Objective measures on known cases: identical audio scores perfectly, degraded audio scores worse."""

import json
import math
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from melgan_hf import GriffinLimVocoder, MelGANFeatureExtractor, load_audio
from melgan_hf.audio import synthetic_melody
from melgan_hf.cli import main
from melgan_hf.evaluation import (
    CEILING,
    VOCODER_MEASURES,
    EvaluationTable,
    SpeechJudges,
    copy_synthesis_scores,
    evaluate_conversion,
    mel_spectral_centroid,
    relative_l2,
    timbre_shift,
    word_error_rate,
)

RATE = 22050


@pytest.fixture(scope="module")
def melody() -> np.ndarray:
    return synthetic_melody(RATE, 3.0)


@pytest.fixture(scope="module")
def features() -> MelGANFeatureExtractor:
    return MelGANFeatureExtractor()


def test_identical_audio_scores_perfectly(melody, features) -> None:
    scores = copy_synthesis_scores(melody, melody, RATE, features)
    assert scores["pesq_wb"] > 4.6 and scores["stoi"] > 0.999
    for measure in ("mr_stft", "log_mel_l1", "mcd_db", "f0_gpe", "f0_vde"):
        assert scores[measure] == pytest.approx(0.0, abs=1e-6), measure


def test_more_noise_scores_worse(melody, features) -> None:
    rng = np.random.default_rng(0)
    light = copy_synthesis_scores(melody, melody + rng.normal(0, 0.005, melody.size), RATE, features)
    heavy = copy_synthesis_scores(melody, melody + rng.normal(0, 0.05, melody.size), RATE, features)
    assert 4.6 > light["pesq_wb"] > heavy["pesq_wb"]
    assert 1.0 > light["stoi"] > heavy["stoi"]
    for measure in ("mr_stft", "log_mel_l1", "mcd_db"):
        assert 0 < light[measure] < heavy[measure], measure


def test_pitch_errors_see_a_transposition(melody, features) -> None:
    fifth_up = synthetic_melody(RATE, 3.0, notes=tuple(f * 1.5 for f in (220.0, 277.18, 329.63, 440.0, 329.63, 277.18)))
    scores = copy_synthesis_scores(melody, fifth_up, RATE, features)
    assert scores["f0_gpe"] > 0.8  # every voiced frame is 50 % off
    silence = copy_synthesis_scores(melody, np.zeros_like(melody), RATE, features)
    assert silence["f0_vde"] > 0.5 and np.isnan(silence["f0_gpe"])


def test_griffin_lim_sits_between_perfect_and_noise(melody, features) -> None:
    output, _ = GriffinLimVocoder(features)(melody, RATE)
    scores = copy_synthesis_scores(melody, output, RATE, features)
    assert 1.2 < scores["pesq_wb"] < 4.0 and scores["log_mel_l1"] < 0.5


def test_table_means_skip_undefined_scores() -> None:
    table = EvaluationTable(("pesq_wb",))
    table.add("model", "a.wav", {"pesq_wb": 3.0})
    table.add("model", "silent.wav", {"pesq_wb": float("nan")})
    assert table.means() == {"model": {"pesq_wb": 3.0}}
    assert "| model  |     3.0000 |" in table.format()


def test_mean_wer_is_pooled_over_the_reference_words() -> None:
    """All errors over all words: a 2-word file with both words lost and a 10-word file with one lost make 3 / 12,
    not the mean of the ratios (0.55); files without words or scores are left out."""
    table = EvaluationTable(("wer", "wer_change", "similarity_to_target"))
    table.add("model", "short.wav", {"wer": 1.0, "wer_change": 1.0, "similarity_to_target": 0.9, "known_words": 2.0})
    table.add("model", "long.wav", {"wer": 0.1, "wer_change": 0.0, "similarity_to_target": 0.7, "known_words": 10.0})
    table.add("model", "no_text.wav", {"wer": math.nan, "wer_change": math.nan, "similarity_to_target": 0.8,
                                       "known_words": 0.0})  # fmt: skip
    means = table.means()["model"]
    assert means["wer"] == pytest.approx(3 / 12) and means["wer_change"] == pytest.approx(2 / 12)
    assert means["similarity_to_target"] == pytest.approx(0.8)  # other measures: plain means


def test_centroid_tracks_brightness() -> None:
    features = MelGANFeatureExtractor()
    mels = {
        rolloff: features(synthetic_melody(RATE, 2.0, rolloff=rolloff), sampling_rate=RATE)["input_features"][0]
        for rolloff in (0.5, 1.5, 3.0)
    }
    bright, medium, dark = (mel_spectral_centroid(mels[r]) for r in (0.5, 1.5, 3.0))
    assert bright > medium > dark
    assert timbre_shift(bright, dark, medium) == pytest.approx((bright - medium) / (bright - dark))


def test_evaluate_vocoder_command(tmp_path, saved_vocoder, capsys) -> None:
    data = tmp_path / "held_out"
    data.mkdir()
    for index in range(2):
        sf.write(data / f"{index}.wav", synthetic_melody(16000, 1.5, rolloff=1.0 + index), 16000)
    (data / "broken.wav").write_bytes(b"nope")
    report = tmp_path / "scores.json"
    status = main(
        ["evaluate", "vocoder", "--data", str(data), "--model", str(saved_vocoder), "--json", str(report), "--quiet"]
    )
    captured = capsys.readouterr()
    assert status == 0 and "broken.wav" in captured.err
    scores = json.loads(report.read_text())
    systems = list(scores["mean"])
    assert systems == [str(saved_vocoder), "griffin-lim (32 it.)"]
    assert set(scores["mean"][systems[0]]) == set(VOCODER_MEASURES)
    assert len(scores["per_file"][systems[1]]) == 2
    # An untrained vocoder is far worse than Griffin-Lim on the model's own mel: the table must say so.
    assert scores["mean"][systems[0]]["log_mel_l1"] > scores["mean"][systems[1]]["log_mel_l1"]
    assert "griffin-lim (32 it.)" in captured.out and "pesq_wb" in captured.out


def test_evaluate_card_writes_one_scores_section_into_the_model_card(tmp_path, saved_vocoder) -> None:
    data = tmp_path / "held_out"
    data.mkdir()
    sf.write(data / "melody.wav", synthetic_melody(16000, 1.0), 16000)
    (saved_vocoder / "README.md").write_text("# My vocoder\n\n## Training\n\nsome steps\n")
    command = ["evaluate", "vocoder", "--data", str(data), "--model", str(saved_vocoder), "--card", "--quiet"]
    assert main(command) == 0
    assert main([*command, "--no-baseline"]) == 0  # a second run replaces the section
    card = (saved_vocoder / "README.md").read_text()
    assert card.startswith("# My vocoder\n\n## Training\n\nsome steps\n")
    assert card.count("## Objective evaluation: copy-synthesis") == 1
    assert "pesq_wb" in card and "griffin-lim" not in card


needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="Debian's flite is not installed")
SENTENCES = ("Please leave a message after the tone.", "The meeting has been moved to Thursday afternoon.")


def flite(voice: str, text: str, path) -> tuple[np.ndarray, int]:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True, timeout=60)
    return load_audio(path)


@pytest.fixture(scope="module")
def voices(tmp_path_factory) -> dict[str, dict[str, tuple[np.ndarray, int]]]:
    folder = tmp_path_factory.mktemp("voices")
    return {
        voice: {f"{voice}{i}.wav": flite(voice, text, folder / f"{voice}{i}.wav") for i, text in enumerate(SENTENCES)}
        for voice in ("slt", "rms")
    }


@needs_flite
def test_dnsmos_hears_noise_in_speech(voices, features) -> None:
    audio, rate = voices["slt"]["slt1.wav"]
    noisy = audio + np.random.default_rng(0).normal(0, 0.05, audio.size).astype(np.float32)
    clean_score, noisy_score = (copy_synthesis_scores(audio, x, rate, features)["dnsmos_ovrl"] for x in (audio, noisy))
    assert 1.0 < noisy_score < clean_score - 0.5 < 4.5


@pytest.fixture(scope="module")
def judges() -> SpeechJudges:
    return SpeechJudges()


@needs_flite
def test_conversion_scores_know_speakers_words_and_noise(voices, judges) -> None:
    identity = {"identity": lambda audio, rate: (audio, rate)}
    same = evaluate_conversion(identity, voices["slt"], voices["slt"], judges).means()["identity"]
    other = evaluate_conversion(identity, voices["slt"], voices["rms"], judges).means()["identity"]
    assert same["similarity_to_source"] == pytest.approx(1.0, abs=1e-5) and same["wer_vs_source"] == 0.0
    assert same["f0_correlation"] == pytest.approx(1.0, abs=1e-6)
    # Same speaker ≈ 0.96, another speaker well below.
    assert same["similarity_to_target"] > 0.85 > other["similarity_to_target"] + 0.15
    assert np.isnan(same["wer"]) and np.isnan(same["wer_change"])  # no known words: nothing to score against

    rng = np.random.default_rng(0)
    noisy = {"noisy": lambda audio, rate: (audio + rng.normal(0, 0.1, audio.size).astype(np.float32), rate)}
    degraded = evaluate_conversion(noisy, voices["slt"], voices["slt"], judges).means()["noisy"]
    assert degraded["dnsmos_bak"] < same["dnsmos_bak"] and degraded["dnsmos_ovrl"] < same["dnsmos_ovrl"]
    assert degraded["wer_vs_source"] > 0.0


@needs_flite
def test_known_words_ceiling_and_noisy_rows(voices, judges) -> None:
    """WER against the known words (the change cancels the recogniser's own errors on the source), a ceiling row
    judged leave-one-out, and every system again on microphone-like input."""
    sources = voices["slt"]
    texts = {name: text for name, text in zip(sources, SENTENCES, strict=True)}
    silence = {"mute": lambda audio, rate: (np.zeros_like(audio), rate)}  # no words left at all
    identity = {"identity": lambda audio, rate: (audio, rate)}
    table = evaluate_conversion(
        {**identity, **silence},
        sources,
        voices["rms"],
        judges,
        transcripts=texts,
        ceiling=identity["identity"],
        noisy=True,
    )
    means = table.means()
    assert list(means) == ["identity", "mute", "identity, noisy input", "mute, noisy input", CEILING]
    assert means["identity"]["wer_change"] == 0.0 and 0.0 <= means["identity"]["wer"] < 0.5
    assert means["mute"]["wer"] == 1.0 and means["mute"]["wer_change"] == pytest.approx(1.0 - means["identity"]["wer"])
    # The noisy copy is another recording of the same words and speaker, scored against the clean source.
    noisy = means["identity, noisy input"]
    assert noisy["similarity_to_source"] < 0.999 and noisy["dnsmos_bak"] < means["identity"]["dnsmos_bak"]
    # The ceiling covers the references (rms): compared with the other rms references, not with slt.
    assert set(table.rows[CEILING]) == set(voices["rms"])
    ceiling = means[CEILING]
    assert ceiling["similarity_to_source"] == pytest.approx(1.0, abs=1e-5) and ceiling["similarity_to_target"] > 0.8
    assert np.isnan(ceiling["wer"])  # rms's clips have no transcripts here


def test_word_error_rate_edge_cases() -> None:
    assert word_error_rate("leave a message", "leave a message") == 0.0
    assert word_error_rate("leave a message", "leave the message") == pytest.approx(1 / 3)
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "noise") == 1.0


@needs_flite
def test_evaluate_convert_command(tmp_path, tiny_vocoder, voices, capsys) -> None:
    from tests.test_style_pipeline import make_style_pipeline

    converter = tmp_path / "converter"
    make_style_pipeline(tiny_vocoder).save_pretrained(converter)
    other = tmp_path / "other"  # a second converter, scored in the same run
    make_style_pipeline(tiny_vocoder, seed=1).save_pretrained(other)
    for voice, folder in (("slt", "source"), ("rms", "target")):
        (tmp_path / folder).mkdir()
        for (name, (audio, rate)), text in zip(voices[voice].items(), SENTENCES, strict=True):
            sf.write(tmp_path / folder / name, audio, rate)
            (tmp_path / folder / name).with_suffix(".txt").write_text(text)  # the known words, beside the clip
    report = tmp_path / "scores.json"
    status = main(
        [
            "evaluate",
            "convert",
            "--model",
            str(converter),
            "--source",
            str(tmp_path / "source"),
            "--target-reference",
            str(tmp_path / "target"),
            "--compare",
            str(other),
            "--json",
            str(report),
            "--quiet",
        ]
    )
    assert status == 0 and "similarity_to_target" in capsys.readouterr().out
    means = json.loads(report.read_text())["mean"]
    systems = [str(converter), str(other), "source (not converted)"]
    assert list(means) == [*systems, *(f"{system}, noisy input" for system in systems), CEILING]
    assert means["source (not converted)"]["wer_change"] == 0.0 and means["source (not converted)"]["wer"] < 0.5
    # An untrained converter garbles the words; the table must show it.
    assert means[str(converter)]["wer_change"] > 0.5 and means[str(converter)]["wer_vs_source"] > 0.5


def test_evaluate_card_can_name_another_card(tmp_path, saved_vocoder) -> None:
    """A converter's card can carry the copy-synthesis scores of its vocoder (a subfolder)."""
    data = tmp_path / "held_out"
    data.mkdir()
    sf.write(data / "melody.wav", synthetic_melody(16000, 1.0), 16000)
    card = tmp_path / "converter" / "README.md"
    card.parent.mkdir()
    card.write_text("# A converter\n")
    command = ["evaluate", "vocoder", "--data", str(data), "--model", str(saved_vocoder), "--quiet"]
    assert main([*command, "--card", str(card), "--no-baseline"]) == 0
    assert "## Objective evaluation: copy-synthesis" in card.read_text()
    assert not (saved_vocoder / "README.md").exists()


def test_stoi_is_undefined_on_too_little_speech(melody) -> None:
    """pystoi's fallback of 1e-5 would read as 'unintelligible' and drag every mean down; it is NaN instead."""
    from melgan_hf.evaluation import stoi

    pytest.importorskip("pystoi")
    assert np.isnan(stoi(melody[:2000], melody[:2000], 16000))
    assert stoi(melody, melody, 16000) > 0.99


def test_relative_l2_is_the_error_over_the_reference_norm() -> None:
    reference = synthetic_melody(RATE, 1.0)
    assert relative_l2(reference, reference) == 0.0
    assert relative_l2(reference, 1.01 * reference) == pytest.approx(0.01, rel=1e-4)
    assert relative_l2(reference, np.concatenate([reference, np.ones(100, np.float32)])) == 0.0  # longer: trimmed
