"""PPG voice conversion: the decoder's inputs, any length, saving and loading, the pipeline, the trainer and resume."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel

from melgan_hf import (
    PhoneEncoderConfig,
    PhoneEncoderModel,
    PPGVCConfig,
    PPGVCModel,
    StyleTransferPipeline,
    load_audio,
    save_audio,
)
from melgan_hf.augment import warp_log_mel, world_voices
from melgan_hf.modeling_phone_encoder import content_features, content_width
from melgan_hf.pitch import track_pitch
from tests.test_knn_vc import RATE, features, harmonic_tone, tiny_16k_vocoder
from tests.test_train_phone_encoder import toy_utterance
from training import ship_model, train_ppg_decoder
from training.dataset import Clip, SegmentSampler


def tiny_encoder() -> PhoneEncoderModel:
    torch.manual_seed(0)
    config = PhoneEncoderConfig.from_preset("speech16k", hidden_channels=16, dilations=[1, 2], bottleneck_channels=8)
    encoder = PhoneEncoderModel(config).eval()
    for parameter in encoder.parameters():  # a random encoder, but not a degenerate one
        torch.nn.init.normal_(parameter, std=0.3)
    return encoder


def tiny_ppg(**fields) -> PPGVCModel:
    encoder = tiny_encoder()
    config = PPGVCConfig(**encoder.config.audio_kwargs, encoder=encoder.config.to_dict(), hidden_channels=16,
                         dilations=[1, 2], **fields)  # fmt: skip
    model = PPGVCModel(config).eval()
    model.encoder.load_state_dict(encoder.state_dict())
    return model


def log_mel(audio: np.ndarray) -> torch.Tensor:
    return features().mel_spectrogram(torch.from_numpy(audio))[0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"content": "words"}, "content"), ({"kernel_size": 4}, "kernel_size"), ({"dilations": [0]}, "dilations"),
     ({"target_log_f0": [5.0, 0.0]}, "target_log_f0"), ({"content_temperature": 0.0}, "content_temperature"),
     ({"content": "bottleneck", "content_temperature": 0.5}, "content_temperature needs content 'posteriors'"),
     ({"vtln_factors": [1.0, 3.0]}, "vtln_factors"), ({"vtln_factors": ["1.1"]}, "vtln_factors")],
)  # fmt: skip
def test_bad_ppg_config_names_the_field(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"PPGVCConfig.{message}"):
        PPGVCConfig(**fields)


def test_content_temperature_sharpens_the_posteriors_when_converting_only() -> None:
    """Below 1 each frame's posteriors concentrate on their likeliest phone (still unit length, Hellinger), the
    argmax unchanged; `temperature=1.0` (what the trainer passes) reads them as they are."""
    model = tiny_ppg(content_temperature=0.5)
    mel = log_mel(toy_utterance(np.random.default_rng(0))[0])[None]
    pitch = torch.zeros(1, mel.shape[1], 2)
    width = content_width(model.config.encoder_config(), "posteriors")
    sharp, plain = (model.decoder_inputs(mel, pitch, temperature)[..., :width] for temperature in (None, 1.0))
    posteriors = model.encoder(mel).logits.softmax(dim=-1)
    torch.testing.assert_close(plain.square(), posteriors, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(sharp.norm(dim=-1), torch.ones(sharp.shape[:2]))
    assert torch.equal(sharp.argmax(dim=-1), plain.argmax(dim=-1))
    assert (sharp.amax(dim=-1) >= plain.amax(dim=-1) - 1e-6).all() and (sharp.amax(-1) > plain.amax(-1)).any()


def test_vtln_reads_each_utterance_at_its_most_confident_warp_when_converting_only() -> None:
    model = tiny_ppg(vtln_factors=[0.8, 1.0, 1.25])
    rng = np.random.default_rng(0)
    mel = torch.stack([log_mel(toy_utterance(rng)[0])[:60] for _ in range(2)])
    pitch = torch.zeros(2, 60, 2)
    width = content_width(model.config.encoder_config(), "posteriors")
    converting = model.decoder_inputs(mel, pitch)
    candidates = torch.stack(
        [
            content_features(model.encoder, warp_log_mel(mel, factor, 0.0, 8000.0), "posteriors")
            for factor in (0.8, 1.0, 1.25)
        ]
    )
    best = candidates.amax(dim=-1).square().mean(dim=-1).argmax(dim=0)  # per utterance
    for row in range(2):
        torch.testing.assert_close(converting[row, :, :width], candidates[best[row], row])
    assert not torch.allclose(candidates[0], candidates[2])  # the warps do change what the encoder reads
    training = model.decoder_inputs(mel, pitch, 1.0, ())
    torch.testing.assert_close(training[..., :width], content_features(model.encoder, mel, "posteriors"))
    torch.testing.assert_close(training[..., width:], converting[..., width:])  # pitch and energy: unwarped


def test_decoder_inputs_carry_content_pitch_and_a_loudness_that_ignores_gain() -> None:
    model = tiny_ppg()
    audio = np.concatenate([harmonic_tone(np.array([150.0, 220.0]), 1.0), 0.05 * harmonic_tone(np.array([150.0]), 0.5)])
    mel = log_mel(audio)[None]
    pitch = torch.zeros(1, mel.shape[1], 2)
    inputs = model.decoder_inputs(mel, pitch)
    width = len(model.config.encoder_config().phones)  # posteriors by default
    assert inputs.shape == (1, mel.shape[1], width + 3)
    torch.testing.assert_close(inputs[..., :width].norm(dim=-1), torch.ones(1, mel.shape[1]))  # unit content
    energy = inputs[0, :, -1]
    assert energy.max() == 0 and energy.min() >= -1 and energy[-10:].mean() < energy[10:50].mean() - 0.2
    louder = model.decoder_inputs(log_mel(4 * audio)[None], pitch)  # a microphone's gain is not loudness
    torch.testing.assert_close(louder[0, 5:-5, -1], energy[5:-5], atol=0.02, rtol=0)


def test_any_length_keeps_its_frames_and_the_model_saves_and_loads(tmp_path) -> None:
    model = tiny_ppg()
    for seconds in (0.1, 1.7):
        audio = harmonic_tone(np.array([180.0]), seconds)
        mel = log_mel(audio)
        f0 = np.full(mel.shape[0], 180.0)
        converted = model.convert(mel, f0)
        assert converted.shape == mel.shape and torch.isfinite(converted).all()
    model.save_pretrained(tmp_path / "ppg")
    loaded = AutoModel.from_pretrained(tmp_path / "ppg")
    assert isinstance(loaded, PPGVCModel)
    torch.testing.assert_close(loaded.convert(mel, f0), converted)
    batched = loaded(mel[None].repeat(2, 1, 1), f0=torch.from_numpy(f0)[None].repeat(2, 1)).converted_features
    torch.testing.assert_close(batched[1], converted)


def test_the_pipeline_runs_a_ppg_converter_and_refuses_a_reference_voice(tmp_path) -> None:
    pipeline = StyleTransferPipeline(tiny_ppg(), tiny_16k_vocoder())
    source = harmonic_tone(np.array([200.0, 150.0]), 1.3)
    converted, rate = pipeline(source, RATE)
    assert rate == RATE and converted.shape == source.shape and np.isfinite(converted).all()
    assert not pipeline.any_to_any
    with pytest.raises(ValueError, match="one target \\(PPG decoder\\)"):
        pipeline.set_target([(source, RATE)])
    pipeline.save_pretrained(tmp_path / "converter")
    loaded = StyleTransferPipeline.from_pretrained(tmp_path / "converter")
    assert isinstance(loaded.model, PPGVCModel)
    np.testing.assert_allclose(loaded(source, RATE)[0], converted, atol=2e-4)


def test_world_copies_move_the_pitch_and_the_formants_and_keep_the_timing() -> None:
    tone = harmonic_tone(np.array([150.0]), 1.0)
    audio = np.concatenate([tone, np.zeros(RATE // 2, dtype=np.float32), tone])
    lower, same, brighter = world_voices(audio, RATE, [(0.5, 1.0), (1.0, 1.0), (1.0, 1.25)])
    assert lower.shape == same.shape == brighter.shape == audio.shape

    def median_f0(voice: np.ndarray) -> float:
        f0 = track_pitch(voice, RATE, 256)
        return float(np.median(f0[f0 > 0]))

    assert median_f0(lower) == pytest.approx(75, rel=0.05)
    assert median_f0(brighter) == pytest.approx(150, rel=0.05)

    def centroid(voice: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(voice[: RATE // 2]))
        return float((spectrum * np.fft.rfftfreq(RATE // 2, 1 / RATE)).sum() / spectrum.sum())

    assert centroid(brighter) > 1.1 * centroid(same)  # the envelope moved up, the harmonics did not
    gap = slice(RATE + 1600, RATE + RATE // 2 - 1600)  # inside the silence, clear of its edges
    for copy in (lower, brighter):
        assert np.abs(copy[gap]).max() < 0.01 * np.abs(copy).max()  # the silence stays where it was


def test_the_encoder_hears_a_voice_copy_where_one_is_drawn_and_the_decoder_target_stays_clean() -> None:
    quiet = {"noise_share": 0.0, "reverb_share": 0.0, "vocal_tract_range": (1.0, 1.0), "segment_frames": 16}
    config = train_ppg_decoder.PPGTrainingConfig(voice_copies=2, copy_share=1.0, **quiet)
    clips = [harmonic_tone(np.array([150.0, 200.0]), 1.0), harmonic_tone(np.array([180.0]), 0.8)]
    copies = train_ppg_decoder.make_voice_copies(clips, RATE, config, show_progress=False)
    assert [[copy.shape for copy in clip_copies] for clip_copies in copies] == [[clip.shape] * 2 for clip in clips]
    again = train_ppg_decoder.make_voice_copies(clips, RATE, config, show_progress=False)
    for made, remade in zip(copies, again, strict=True):  # drawn from the seed
        assert all(np.array_equal(a, b) for a, b in zip(made, remade, strict=True))

    front_end = features()
    length = config.segment_frames * front_end.hop_length
    audio, placements = SegmentSampler(clips, length, seed=0).draw(0, 4)

    def mel(batch: torch.Tensor) -> torch.Tensor:
        return front_end.log_mel_from_magnitude(front_end.magnitude_spectrogram(batch))

    heard, clean = train_ppg_decoder.EncoderAugmenter(config, front_end, copies)(audio, placements, 0, 0)
    torch.testing.assert_close(clean, mel(audio))
    for row, (index, start, _) in enumerate(placements):
        candidates = [mel(torch.from_numpy(copy[start : start + length])[None])[0] for copy in copies[index]]
        assert any(torch.allclose(heard[row], candidate, atol=1e-4) for candidate in candidates)
    assert not torch.allclose(heard, clean, atol=0.1)

    plain = train_ppg_decoder.PPGTrainingConfig(voice_copies=2, copy_share=0.0, **quiet)
    torch.testing.assert_close(
        train_ppg_decoder.EncoderAugmenter(plain, front_end, copies)(audio, placements, 0, 0)[0], clean
    )


def test_parallel_content_lines_another_voices_words_up_with_the_targets_frames(tmp_path) -> None:
    """A 'rendition' that pauses mid-sentence: DTW maps each target frame onto the same words in it, where reading
    frame for frame would not; clips without a rendition get none, and a folder naming no clip is refused."""
    model, front_end = tiny_ppg(), features()
    rng = np.random.default_rng(3)
    clips = []
    for name in ("said", "unsaid"):
        audio = toy_utterance(rng, 1.5)[0]
        audio[0] = audio[-1] = 0.3  # nothing for the loader's trimming to take
        save_audio(tmp_path / "target" / f"{name}.wav", audio, RATE)
        clips.append(Clip(tmp_path / "target" / f"{name}.wav", audio))
    half = clips[0].audio.size // 2
    paused = np.concatenate([clips[0].audio[:half], np.zeros(RATE // 2, np.float32), clips[0].audio[half:]])
    save_audio(tmp_path / "voices" / "slow" / "said.wav", paused, RATE)
    mels = [log_mel(clip.audio).numpy() for clip in clips]
    aligned = train_ppg_decoder.align_parallel_content(model, front_end, clips, mels, tmp_path / "voices", False)
    assert [len(versions) for versions in aligned] == [1, 0]
    own = content_features(model.encoder, torch.from_numpy(mels[0])[None], "posteriors")[0].numpy()
    theirs = content_features(model.encoder, log_mel(paused)[None], "posteriors")[0].numpy()
    assert aligned[0][0].shape == own.shape
    assert np.allclose(np.linalg.norm(aligned[0][0], axis=1), 1, atol=1e-5)
    lined_up = float(np.mean(np.sum(aligned[0][0] * own, axis=1)))
    frame_for_frame = float(np.mean(np.sum(theirs[: len(own)] * own, axis=1)))
    assert lined_up > 0.9 and lined_up > frame_for_frame + 0.2  # (0.94 against 0.64 when written)

    (tmp_path / "strangers" / "voice").mkdir(parents=True)
    save_audio(tmp_path / "strangers" / "voice" / "other.wav", paused, RATE)
    with pytest.raises(SystemExit, match="strangers"):
        train_ppg_decoder.align_parallel_content(model, front_end, clips, mels, tmp_path / "strangers", False)


def test_parallel_content_replaces_only_the_content_of_the_drawn_segments() -> None:
    width, frames, hop = 5, 4, 256
    inputs = torch.arange(2 * frames * (width + 3), dtype=torch.float32).reshape(2, frames, width + 3)
    version = np.full((10, width), -1.0, dtype=np.float32)
    version[:, 0] = np.arange(10)
    aligned = [[version], []]  # the second clip has no rendition
    placements = [(0, 3 * hop, 1.0), (1, 0, 1.0)]
    always = train_ppg_decoder.PPGTrainingConfig(parallel_share=1.0)
    swapped = train_ppg_decoder.with_parallel_content(inputs, aligned, placements, hop, always, 0, 0)
    torch.testing.assert_close(swapped[0, :, :width], torch.from_numpy(version[3 : 3 + frames]))  # its frames
    torch.testing.assert_close(swapped[0, :, width:], inputs[0, :, width:])  # pitch, voicing, energy stay
    torch.testing.assert_close(swapped[1], inputs[1])
    never = train_ppg_decoder.PPGTrainingConfig(parallel_share=0.0)
    torch.testing.assert_close(
        train_ppg_decoder.with_parallel_content(inputs, aligned, placements, hop, never, 0, 0), inputs
    )


@pytest.fixture(scope="module")
def toy_target(tmp_path_factory) -> dict[str, Path]:
    """A 'speaker' whose 'phones' are two vowel-like tones, hiss and silence; a tiny encoder and vocoder and recipe."""
    root = tmp_path_factory.mktemp("toy_ppg")
    rng = np.random.default_rng(0)
    for index in range(8):
        save_audio(root / "target" / f"{index:02d}.wav", toy_utterance(rng)[0], RATE)
    tiny_encoder().save_pretrained(root / "encoder")
    tiny_16k_vocoder().save_pretrained(root / "vocoder")
    config = root / "tiny.yaml"
    config.write_text(
        "model:\n  hidden_channels: 16\n  dilations: [1, 2]\n"
        "training:\n  batch_size: 4\n  segment_frames: 32\n  learning_rate: 0.02\n  warmup_steps: 5\n"
        "  adversarial_start_step: 10\n  save_every: 10\n  eval_every: 10\n  log_every: 5\n  validation_files: 2\n"
        "  voice_copies: 1\n"
    )
    return {"target": root / "target", "encoder": root / "encoder", "vocoder": root / "vocoder", "config": config}


def train(toy: dict[str, Path], output_dir: Path, *extra: str) -> None:
    train_ppg_decoder.main(
        [
            "--encoder", str(toy["encoder"]),
            "--target", str(toy["target"]),
            "--vocoder", str(toy["vocoder"]),
            "--config", str(toy["config"]),
            "--output_dir", str(output_dir),
            "--target_name", "Toy",
            "--no_progress",
            *extra,
        ]
    )  # fmt: skip


def test_training_learns_the_target_and_a_killed_run_resumes_to_the_same_weights(
    tmp_path, toy_target, monkeypatch: pytest.MonkeyPatch
) -> None:
    train(toy_target, tmp_path / "whole", "--max_steps", "30")
    state = json.loads((tmp_path / "whole" / "trainer_state.json").read_text())
    assert state["validation_mel_l1_final"] < 0.6 * state["validation_mel_l1_initial"]
    log = [json.loads(line) for line in (tmp_path / "whole" / "train_log.jsonl").read_text().splitlines()]
    assert "critic" in log[-2] and "critic" not in log[0]  # the critic joins at step 10
    converter = StyleTransferPipeline.from_pretrained(tmp_path / "whole")
    assert isinstance(converter.model, PPGVCModel) and converter.model.config.target_name == "Toy"
    assert converter.model.config.target_log_f0[0] == pytest.approx(np.log(150), abs=0.1)
    audio = harmonic_tone(np.array([120.0]), 0.7)
    assert converter(audio, RATE)[0].shape == audio.shape
    assert (tmp_path / "whole" / train_ppg_decoder.CRITIC_FILE).is_file()
    assert "Toy" in (tmp_path / "whole" / "README.md").read_text()

    killed = tmp_path / "killed" / "checkpoints"
    killed.mkdir(parents=True)
    shutil.copytree(tmp_path / "whole" / "checkpoints" / "step_00000020", killed / "step_00000020")
    with pytest.raises(SystemExit, match="--resume"):
        train(toy_target, tmp_path / "killed", "--max_steps", "30")
    train(toy_target, tmp_path / "killed", "--max_steps", "30", "--resume")
    whole, split = PPGVCModel.from_pretrained(tmp_path / "whole"), PPGVCModel.from_pretrained(tmp_path / "killed")
    for (name, expected), actual in zip(whole.state_dict().items(), split.state_dict().values(), strict=True):
        torch.testing.assert_close(actual, expected, msg=name)

    # Continuing from a finished converter picks up its decoder and its critic.
    train_ppg_decoder.main(
        ["--init_from", str(tmp_path / "whole"), "--target", str(toy_target["target"]), "--vocoder",
         str(toy_target["vocoder"]), "--config", str(toy_target["config"]), "--output_dir", str(tmp_path / "more"),
         "--max_steps", "1", "--no_progress"]
    )  # fmt: skip
    more = json.loads((tmp_path / "more" / "trainer_state.json").read_text())
    assert more["validation_mel_l1_initial"] == pytest.approx(state["validation_mel_l1_final"], rel=1e-4)

    # Shipped into the package, it keeps its critic, so training can go on from the shipped converter.
    monkeypatch.setattr(ship_model, "SHIPPED_DIR", tmp_path / "models")
    monkeypatch.setattr(sys, "argv", ["ship_model.py", str(tmp_path / "whole"), "toy-voice"])
    ship_model.main()
    shipped, critic = tmp_path / "models" / "toy-voice", train_ppg_decoder.CRITIC_FILE
    assert load_file(shipped / critic).keys() == load_file(tmp_path / "whole" / critic).keys()
    assert isinstance(StyleTransferPipeline.from_pretrained(shipped).model, PPGVCModel)


def test_the_trainer_takes_other_voices_renditions_of_the_targets_clips(tmp_path, toy_target) -> None:
    spoken = load_audio(toy_target["target"] / "00.wav")[0]
    save_audio(tmp_path / "voices" / "slow" / "00.wav", librosa.effects.time_stretch(spoken, rate=0.8), RATE)
    train(toy_target, tmp_path / "out", "--max_steps", "3", "--parallel", str(tmp_path / "voices"))
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["parallel"] == str(tmp_path / "voices") and state["steps"] == 3
    with pytest.raises(SystemExit, match="no-voices"):
        train(toy_target, tmp_path / "none", "--max_steps", "1", "--parallel", str(tmp_path / "no-voices"))


@pytest.mark.parametrize(
    ("line", "message"),
    [("lambda_mell: 3", "lambda_mell"), ("voice_copies: -1", "voice_copies"),
     ("copy_f0_range: [0, 1]", "copy_f0_range"), ("copy_share: 2", "copy_share"),
     ("parallel_share: -0.1", "parallel_share")],
)  # fmt: skip
def test_the_trainer_names_a_missing_encoder_and_a_bad_config(tmp_path, toy_target, line: str, message: str) -> None:
    with pytest.raises(SystemExit):
        train_ppg_decoder.parse_args(["--target", "x", "--output_dir", "o"])
    config = tmp_path / "bad.yaml"
    config.write_text(f"training:\n  {line}\n")
    with pytest.raises(ValueError, match=message):
        train_ppg_decoder.main(
            ["--encoder", str(toy_target["encoder"]), "--target", str(toy_target["target"]), "--config", str(config),
             "--output_dir", str(tmp_path / "o")]
        )  # fmt: skip
