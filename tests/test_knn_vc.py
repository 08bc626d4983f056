"""kNN voice conversion: pitch tracking, matching on content and pitch, saving the matching set, the pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel

from melgan_hf import (
    KnnVCConfig,
    KnnVCModel,
    MelGANConfig,
    MelGANFeatureExtractor,
    MelGANGenerator,
    MelGANVocoder,
    PhoneEncoderConfig,
    StyleTransferPipeline,
)
from melgan_hf.modeling_phone_encoder import speaker_normalised
from melgan_hf.pitch import clean_octave_errors, log_f0_statistics, track_pitch
from tests.test_style_pipeline import make_style_pipeline

RATE, HOP = 16_000, 256


def harmonic_tone(f0: np.ndarray, seconds: float) -> np.ndarray:
    """A voiced-speech-like tone whose pitch follows `f0` (Hz, resampled over the duration)."""
    samples = int(seconds * RATE)
    contour = np.interp(np.arange(samples), np.linspace(0, samples, len(f0)), f0)
    phase = 2 * np.pi * np.cumsum(contour) / RATE
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 8))).astype(np.float32)


def tiny_converter(seed: int = 0, **fields) -> KnnVCModel:
    torch.manual_seed(seed)
    encoder = PhoneEncoderConfig.from_preset("speech16k", hidden_channels=16, dilations=[1, 2], bottleneck_channels=8)
    config = KnnVCConfig(**encoder.audio_kwargs, encoder=encoder.to_dict(), **fields)
    model = KnnVCModel(config).eval()
    for parameter in model.encoder.parameters():  # a random encoder, but not a degenerate one
        torch.nn.init.normal_(parameter, std=0.3)
    return model


def features() -> MelGANFeatureExtractor:
    return MelGANFeatureExtractor.from_preset("speech16k")


def test_pitch_follows_a_tone_and_is_zero_in_silence() -> None:
    audio = np.concatenate([harmonic_tone(np.array([150.0, 250.0]), 1.0), np.zeros(RATE // 2, dtype=np.float32)])
    frames = audio.size // HOP
    f0 = track_pitch(audio, RATE, HOP, frames)
    assert f0.shape == (frames,)
    middle = f0[10:50]
    assert (middle > 0).all() and 140 < middle[0] < 175 and 220 < middle[-1] < 260 and (np.diff(middle) > -3).all()
    assert (f0[-20:] == 0).all()
    assert track_pitch(np.zeros(100, dtype=np.float32), RATE, HOP).size == 0


def test_long_audio_is_tracked_in_chunks_with_the_same_result(monkeypatch) -> None:
    from melgan_hf import pitch

    audio = harmonic_tone(np.array([120.0, 240.0, 150.0, 200.0]), 6.0)
    whole = track_pitch(audio, RATE, HOP)
    monkeypatch.setattr(pitch, "CHUNK_FRAMES", 100)  # 6 s = 375 frames: four chunks
    chunked = track_pitch(audio, RATE, HOP)
    assert chunked.shape == whole.shape and (np.abs(chunked - whole) <= 0.01 * whole + 1e-6).mean() > 0.98


def test_octave_errors_are_folded_back_and_lone_voiced_frames_dropped() -> None:
    f0 = np.full(40, 200.0)
    f0[20] = 100.0  # DIO's classic half-frequency error
    f0[5] = 400.0
    f0[30:33] = 0.0
    f0[31] = 180.0  # a single voiced frame between unvoiced ones
    cleaned = clean_octave_errors(f0)
    assert cleaned[20] == pytest.approx(200.0) and cleaned[5] == pytest.approx(200.0) and cleaned[31] == 0.0
    assert log_f0_statistics(np.zeros(50)) is None


def target_set(model: KnnVCModel, utterances: int = 3) -> tuple[list[torch.Tensor], list[np.ndarray]]:
    extractor, rng = features(), np.random.default_rng(0)
    mels, pitches = [], []
    for _ in range(utterances):
        audio = harmonic_tone(rng.uniform(120, 260, size=6), 1.5) + 0.01 * rng.standard_normal(int(1.5 * RATE))
        mel = extractor.mel_spectrogram(torch.from_numpy(audio.astype(np.float32)))[0]
        mels.append(mel)
        pitches.append(track_pitch(audio, RATE, HOP, mel.shape[0]))
    model.set_target(mels, pitches, name="Tone")
    return mels, pitches


def test_every_output_frame_is_made_of_target_frames_and_the_target_maps_to_itself() -> None:
    model = tiny_converter(k=1)
    mels, pitches = target_set(model)
    assert model.config.matching_frames == sum(mel.shape[0] for mel in mels) and model.config.target_name == "Tone"
    converted = model.convert(mels[1], pitches[1])
    torch.testing.assert_close(converted, mels[1])  # its own frames are its nearest neighbours
    source = torch.randn(50, 80) - 5
    output = model.convert(source)
    stored = model.matching_mels
    assert all(bool((stored == row).all(dim=1).any()) for row in output)  # nothing invented: all target frames
    model.config.k = 4
    averaged = model.convert(source)
    assert averaged.shape == (50, 80) and not torch.allclose(averaged, output)


def test_vtln_warps_the_source_query_only() -> None:
    """With vtln_factors the source's keys are read at its most confident warp (`speaker_normalised`); the target's
    matching set is read as it is, so a target utterance still maps to itself frame for frame."""
    model = tiny_converter(k=1, vtln_factors=[0.8, 1.25])
    mels, pitches = target_set(model)
    plain = tiny_converter(k=1)
    target_set(plain)
    torch.testing.assert_close(model.matching_content, plain.matching_content)
    source = mels[1] + 0.3 * torch.randn_like(mels[1])
    warped = speaker_normalised(model.encoder, source[None], [0.8, 1.25], 0.0, 8000.0)[0]
    assert not torch.allclose(warped, source)
    torch.testing.assert_close(model.convert(source, pitches[1]), plain.convert(warped, pitches[1]))


def test_excluded_matching_frames_are_never_picked() -> None:
    """Prematched vocoder input: an utterance rebuilt from the others, never from its own frames."""
    model = tiny_converter(k=1)
    mels, pitches = target_set(model)
    start, end = mels[0].shape[0], mels[0].shape[0] + mels[1].shape[0]
    rebuilt = model.convert(mels[1], pitches[1], exclude=(start, end))
    own = model.matching_mels[start:end]
    assert rebuilt.shape == mels[1].shape
    assert not any(bool((own == row).all(dim=1).any()) for row in rebuilt)  # without exclude it is mels[1] itself
    others = torch.cat([model.matching_mels[:start], model.matching_mels[end:]])
    assert all(bool((others == row).all(dim=1).any()) for row in rebuilt)


def test_pitch_in_the_key_picks_target_frames_at_the_same_place_in_the_range() -> None:
    model = tiny_converter(k=1, pitch_weight=3.0)
    target_set(model)
    model.matching_content[:] = model.matching_content[0]  # content ties everywhere: only pitch decides
    low_voice = np.full(60, 90.0)
    low_voice[30:] = 130.0  # the top of this speaker's range
    chosen = model.convert(torch.randn(60, 80), low_voice)
    picked = [int((model.matching_mels == row).all(dim=1).nonzero()[0]) for row in chosen]
    z_scores = model.matching_pitch[picked, 0]
    assert z_scores[:30].mean() < -0.5 < 0.5 < z_scores[30:].mean()  # low notes → target's low notes, high → high


def test_a_content_shortlist_lets_pitch_choose_only_among_frames_that_say_the_same() -> None:
    model = tiny_converter(k=1, pitch_weight=50.0, content_shortlist=8)  # pitch would win any joint search
    target_set(model)
    source = torch.randn(40, 80) - 5
    f0 = np.linspace(100.0, 200.0, 40)
    content = model.with_context(model.content(source))
    stored = model.with_context(model.matching_content)
    nearest_in_content = torch.cdist(content, stored).topk(8, largest=False).indices
    picked = [int((model.matching_mels == row).all(dim=1).nonzero()[0]) for row in model.convert(source, f0)]
    assert all(index in nearest_in_content[frame] for frame, index in enumerate(picked))
    model.config.content_shortlist = 0  # a joint search with that weight goes by pitch instead
    joint = [int((model.matching_mels == row).all(dim=1).nonzero()[0]) for row in model.convert(source, f0)]
    assert sum(index in nearest_in_content[frame] for frame, index in enumerate(joint)) < 0.5 * len(joint)


def test_the_matching_set_saves_and_loads_with_the_model(tmp_path) -> None:
    model = tiny_converter()
    mels, pitches = target_set(model)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, KnnVCModel) and loaded.config.matching_frames == model.config.matching_frames
    torch.testing.assert_close(loaded.convert(mels[0], pitches[0]), model.convert(mels[0], pitches[0]))


def tiny_16k_vocoder() -> MelGANVocoder:
    torch.manual_seed(0)
    config = MelGANConfig.from_preset("speech16k", ngf=8, n_residual_layers=1, ndf=4, n_layers_D=2, num_D=2)
    return MelGANVocoder(MelGANGenerator(config), precision="fp32")


def test_the_pipeline_converts_any_length_and_takes_a_new_target_voice(tmp_path) -> None:
    model = tiny_converter()
    target_set(model)
    pipeline = StyleTransferPipeline(model, tiny_16k_vocoder())
    assert pipeline.any_to_any
    source = harmonic_tone(np.array([200.0, 180.0]), 1.3)
    converted, rate = pipeline(source, RATE)
    assert rate == RATE and converted.shape == source.shape and np.isfinite(converted).all()
    resampled, _ = pipeline(np.stack([source, source], axis=1)[::2], RATE // 2)  # stereo at 8 kHz
    assert resampled.shape == (source.size // 2 * 2,)

    pipeline.save_pretrained(tmp_path / "converter")
    loaded = StyleTransferPipeline.from_pretrained(tmp_path / "converter")
    assert isinstance(loaded.model, KnnVCModel)
    np.testing.assert_allclose(loaded(source, RATE)[0], converted, atol=2e-4)  # fused vocoder on load

    rng = np.random.default_rng(1)
    voice = [(harmonic_tone(rng.uniform(200, 300, size=4), 8.0), RATE) for _ in range(4)]
    pipeline.set_target(voice, name="Higher")
    assert pipeline.model.config.target_name == "Higher" and pipeline.model.config.target_log_f0[0] > np.log(190)
    with pytest.raises(ValueError, match="at least 30 s"):
        pipeline.set_target([(harmonic_tone(np.array([200.0]), 3.0), RATE)])
    with pytest.raises(ValueError, match="at least 30 s"):
        pipeline.set_target([(np.zeros(RATE * 40, dtype=np.float32), RATE)])  # silence is no voice


def test_a_melgan_vc_converter_refuses_a_reference_voice(tiny_vocoder) -> None:
    pipeline = make_style_pipeline(tiny_vocoder)
    assert not pipeline.any_to_any
    with pytest.raises(ValueError, match="cannot take a reference voice"):
        pipeline.set_target([(np.zeros(RATE), RATE)])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"content": "words"}, "bottleneck"),
        ({"k": 0}, "positive"),
        ({"pitch_weight": -1.0}, ">= 0"),
        ({"vtln_factors": [0.1]}, "KnnVCConfig.vtln_factors"),
    ],
)
def test_bad_converter_config_names_the_field(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KnnVCConfig(**fields)


def test_the_cli_converts_into_a_reference_voice_and_names_a_bad_one(tmp_path, tiny_vocoder, capsys) -> None:
    from melgan_hf import save_audio
    from melgan_hf.cli import main

    model = tiny_converter()
    target_set(model)
    StyleTransferPipeline(model, tiny_16k_vocoder()).save_pretrained(tmp_path / "knn")
    make_style_pipeline(tiny_vocoder).save_pretrained(tmp_path / "melgan-vc")
    save_audio(tmp_path / "in" / "clip.wav", harmonic_tone(np.array([200.0, 150.0]), 1.0), RATE)
    rng = np.random.default_rng(2)
    for index in range(4):
        save_audio(tmp_path / "voice" / f"{index}.wav", harmonic_tone(rng.uniform(90, 140, size=4), 9.0), RATE)
    save_audio(tmp_path / "short" / "0.wav", harmonic_tone(np.array([200.0]), 5.0), RATE)

    def convert(model_folder: str, voice: str) -> int:
        args = ["convert", str(tmp_path / "in"), "--model", str(tmp_path / model_folder), "--quiet"]
        return main([*args, "--out", str(tmp_path / "out" / voice), "--target-voice", str(tmp_path / voice)])

    assert convert("knn", "voice") == 0 and len(list((tmp_path / "out" / "voice").rglob("clip.wav"))) == 1
    assert convert("knn", "short") == 2 and "at least 30 s" in capsys.readouterr().err
    assert convert("melgan-vc", "voice") == 2 and "cannot take a reference voice" in capsys.readouterr().err


def test_a_converter_is_built_from_an_encoder_and_a_speakers_folder_keeping_some_files_out(tmp_path) -> None:
    from melgan_hf import save_audio
    from training import build_knn_converter

    tiny_converter().encoder.save_pretrained(tmp_path / "encoder")
    tiny_16k_vocoder().save_pretrained(tmp_path / "vocoder")
    rng = np.random.default_rng(3)
    for index in range(6):
        save_audio(tmp_path / "speaker" / f"{index:02d}.wav", harmonic_tone(rng.uniform(150, 250, 4), 2.0), RATE)
    build_knn_converter.main(
        ["--encoder", str(tmp_path / "encoder"), "--target", str(tmp_path / "speaker"), "--output_dir",
         str(tmp_path / "out"), "--vocoder", str(tmp_path / "vocoder"), "--target_name", "Tone", "--heldout_every", "3"]
    )  # fmt: skip
    assert (tmp_path / "out" / "heldout.txt").read_text().split() == ["00.wav", "03.wav"]
    pipeline = StyleTransferPipeline.from_pretrained(tmp_path / "out")
    frames = 4 * (2 * RATE // HOP + 1)  # four files of 2 s in the matching set (trimming takes nothing off tones)
    assert pipeline.any_to_any and abs(pipeline.model.config.matching_frames - frames) <= 8
    assert pipeline.model.config.target_name == "Tone" and "into Tone" in (tmp_path / "out" / "README.md").read_text()
