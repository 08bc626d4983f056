"""The phone-encoder trainer: labels that follow the audio through every augmentation, learning, exact resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from melgan_hf import MelGANFeatureExtractor, PhoneEncoderModel, save_audio
from melgan_hf.augment import add_noise, reverberate, warp_log_mel, warp_vocal_tract
from melgan_hf.phones import PHONE_INDEX, write_phone_intervals
from training import train_phone_encoder
from training.dataset import LabelledClip, SegmentSampler, load_labelled_folder

RATE = 16_000


def toy_utterance(rng: np.random.Generator, seconds: float = 2.0) -> tuple[np.ndarray, list]:
    """Alternating 'phones' a classifier can only tell apart by their spectra: a low vowel-like harmonic tone ("a"),
    a high one ("i"), hiss ("s") and silence, in random order and lengths."""
    audio, intervals, time = [], [], 0.0
    while time < seconds:
        phone = rng.choice(["a", "i", "s", "sil"])
        length = rng.uniform(0.08, 0.25)
        t = np.arange(int(length * RATE)) / RATE
        if phone == "a":
            piece = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
        elif phone == "i":
            piece = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(12, 18))
        elif phone == "s":
            piece = rng.standard_normal(t.size) * 0.3
        else:
            piece = np.zeros(t.size)
        audio.append(piece)
        if phone != "sil":
            intervals.append((time, time + t.size / RATE, str(phone)))
        time += t.size / RATE
    return (0.3 * np.concatenate(audio)).astype(np.float32), intervals


def write_toy_corpus(folder: Path, files: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for index in range(files):
        audio, intervals = toy_utterance(rng)
        save_audio(folder / f"{index:04d}.wav", audio, RATE)
        write_phone_intervals(folder / f"{index:04d}.phones.tsv", intervals)
    return folder


@pytest.fixture(scope="module")
def toy_corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("toy_phones")
    config = root / "tiny.yaml"
    config.write_text(
        "model:\n  hidden_channels: 32\n  dilations: [1, 2]\n  bottleneck_channels: 16\n"
        "training:\n  batch_size: 8\n  segment_seconds: 1.0\n  learning_rate: 0.003\n  warmup_steps: 10\n"
        "  save_every: 20\n  keep_checkpoints: 3\n  eval_every: 1000\n  log_every: 10\n  validation_files: 4\n"
    )
    return {
        "train": write_toy_corpus(root / "train", 12, seed=1),
        "real": write_toy_corpus(root / "real", 4, seed=2),
        "held_out": write_toy_corpus(root / "held_out", 4, seed=3),
        "config": config,
    }


def run(toy_corpus: dict[str, Path], output_dir: Path, *extra: str) -> None:
    train_phone_encoder.main(
        [
            "--data", str(toy_corpus["train"]),
            "--real", str(toy_corpus["real"]),
            "--validation", f"toy={toy_corpus['held_out']}",
            "--config", str(toy_corpus["config"]),
            "--output_dir", str(output_dir),
            "--no_progress",
            *extra,
        ]
    )  # fmt: skip


def test_labels_follow_a_segment_played_faster_or_slower() -> None:
    intervals = [(0.0, 1.0, "a"), (1.0, 2.0, "s")]
    clip = LabelledClip(Path("x.wav"), np.ones(2 * RATE, dtype=np.float32), intervals)
    hop, frames = 256, 40  # 0.64 s of output
    # Cut at 0.5 s and played at speed 2: the output covers 0.5 → 1.78 s of the clip, so the phone changes at
    # output time 0.25 s (frame centre (i + 0.5) * 16 ms ≥ 0.25 s from frame 16 on).
    labels = train_phone_encoder.segment_labels([clip], [(0, RATE // 2, 2.0)], frames, hop, RATE)[0]
    change = int(np.argmax(labels.numpy() == PHONE_INDEX["s"]))
    assert change == 16 and (labels[:change] == PHONE_INDEX["a"]).all() and (labels[change:] == PHONE_INDEX["s"]).all()
    # The sampler reports where and how fast it cut, and that is where the audio came from.
    ramp = np.arange(2 * RATE, dtype=np.float32)
    audio, placements = SegmentSampler([ramp], 4000, seed=0, speed_perturbation=0.2).draw(step=3, batch_size=2)
    for row, (_, start, speed) in enumerate(placements):
        assert 0.8 <= speed <= 1.2
        assert audio[row, 100].item() == pytest.approx(start + 100 * speed, abs=3)


def test_noise_meets_its_snr_and_a_room_keeps_the_direct_sound_in_place() -> None:
    rng = np.random.default_rng(0)
    audio = torch.sin(torch.arange(RATE) * 0.05)[None].repeat(2, 1)
    noisy = add_noise(audio, rng, (10.0, 10.0), share=1.0)
    snr = 10 * torch.log10(audio.square().mean(-1) / (noisy - audio).square().mean(-1))
    torch.testing.assert_close(snr, torch.full((2,), 10.0), atol=0.05, rtol=0)
    assert torch.equal(add_noise(audio, rng, (10.0, 10.0), share=0.0), audio)

    click = torch.zeros(1, RATE)
    click[0, 4000] = 1.0
    wet = reverberate(click, rng, RATE, (0.5, 0.5), share=1.0)
    assert wet.shape == click.shape and int(wet.abs().argmax()) == 4000  # labels stay aligned
    assert wet[0, 4100:].abs().sum() > 0.1 and wet[0, :4000].abs().sum() < 1e-4  # a tail after, nothing before


def test_vocal_tract_warp_moves_formants_by_its_factor() -> None:
    magnitude = torch.zeros(2, 3, 513)
    magnitude[:, :, 100] = 1.0  # a formant at bin 100
    warped = warp_vocal_tract(magnitude, torch.tensor([1.0, 1.15]))
    torch.testing.assert_close(warped[0], magnitude[0])
    assert int(warped[1, 0].argmax()) in (114, 115)
    top = warp_vocal_tract(torch.ones(1, 1, 513), torch.tensor([1.15]))
    assert torch.allclose(top, torch.ones(1, 1, 513))  # the band edge stays: nothing runs off the spectrum


def test_log_mel_warp_moves_formants_as_the_spectrum_warp_does() -> None:
    """The warp on the log-mel (what a converter gets) lands a formant in the mel bin the STFT warp puts it in."""
    extractor = MelGANFeatureExtractor.from_preset("speech16k")
    magnitude = torch.full((1, 4, 513), 1e-3)
    magnitude[:, :, 95:106] = 1.0  # a formant around 1.5 kHz
    log_mel = extractor.log_mel_from_magnitude(magnitude)
    torch.testing.assert_close(warp_log_mel(log_mel, 1.0, 0.0, 8000.0), log_mel)
    for factor in (0.85, 1.2):
        by_mel = warp_log_mel(log_mel, factor, 0.0, 8000.0)[0, 0]
        by_stft = extractor.log_mel_from_magnitude(warp_vocal_tract(magnitude, torch.tensor([factor])))[0, 0]
        assert abs(int(by_mel.argmax()) - int(by_stft.argmax())) <= 1
        assert (int(by_mel.argmax()) > int(log_mel[0, 0].argmax())) == (factor > 1)


def test_a_labelled_folder_skips_unlabelled_and_bad_files_by_name(tmp_path) -> None:
    write_toy_corpus(tmp_path, 2, seed=0)
    save_audio(tmp_path / "no_labels.wav", np.ones(RATE, dtype=np.float32) * 0.1, RATE)
    save_audio(tmp_path / "silent.wav", np.zeros(RATE, dtype=np.float32), RATE)
    write_phone_intervals(tmp_path / "silent.phones.tsv", [])
    save_audio(tmp_path / "bad.wav", np.ones(RATE, dtype=np.float32) * 0.1, RATE)
    (tmp_path / "bad.phones.tsv").write_text("start\tend\tphone\n0.0\t0.5\tnot-a-phone\n")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF not audio")
    (tmp_path / "corrupt.phones.tsv").write_text("start\tend\tphone\n")
    clips, report = load_labelled_folder(tmp_path, RATE, show_progress=False)
    assert [clip.path.name for clip in clips] == ["0000.wav", "0001.wav"]
    assert "no phone labels" in report.skipped["no_labels.wav"] and "silent" in report.skipped["silent.wav"]
    assert "not-a-phone" in report.skipped["bad.wav"] and "unreadable" in report.skipped["corrupt.wav"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No labelled audio"):
        load_labelled_folder(tmp_path / "empty", RATE, show_progress=False)


def test_training_learns_the_phones_and_a_killed_run_resumes_to_the_same_weights(tmp_path, toy_corpus) -> None:
    run(toy_corpus, tmp_path / "whole", "--max_steps", "40")
    log = [json.loads(line) for line in (tmp_path / "whole" / "train_log.jsonl").read_text().splitlines()]
    final = json.loads((tmp_path / "whole" / "trainer_state.json").read_text())
    initial, trained = final["validation_initial"], final["validation_final"]
    assert trained["toy/clean_speech_accuracy"] > 0.8 > initial["toy/clean_speech_accuracy"] + 0.3
    assert trained["toy/noisy_speech_accuracy"] > initial["toy/noisy_speech_accuracy"]
    assert log[-1]["step"] == 40 and "| toy |" in (tmp_path / "whole" / "README.md").read_text()

    # A run killed after its first checkpoint leaves what the whole run had at step 20; resuming it ends the same.
    killed = tmp_path / "killed" / "checkpoints"
    killed.mkdir(parents=True)
    shutil.copytree(tmp_path / "whole" / "checkpoints" / "step_00000020", killed / "step_00000020")
    with pytest.raises(SystemExit, match="--resume"):
        run(toy_corpus, tmp_path / "killed", "--max_steps", "40")
    run(toy_corpus, tmp_path / "killed", "--max_steps", "40", "--resume")
    assert json.loads((tmp_path / "killed" / "trainer_state.json").read_text())["resumed_from_step"] == 20
    whole = PhoneEncoderModel.from_pretrained(tmp_path / "whole")
    split = PhoneEncoderModel.from_pretrained(tmp_path / "killed")
    for (name, expected), actual in zip(whole.state_dict().items(), split.state_dict().values(), strict=True):
        torch.testing.assert_close(actual, expected, msg=name)


def test_bad_training_config_and_validation_arguments_are_named(tmp_path, toy_corpus) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("training:\n  real_shar: 0.5\n")
    with pytest.raises(ValueError, match="real_shar"):
        train_phone_encoder.main(
            ["--data", str(toy_corpus["train"]), "--config", str(config), "--output_dir", str(tmp_path / "o")]
        )
    with pytest.raises(SystemExit):
        train_phone_encoder.parse_args(["--data", "x", "--output_dir", "o", "--validation", "no-equals-sign"])


def test_init_from_takes_the_encoder_inside_a_shipped_converter(tmp_path, toy_corpus) -> None:
    """`--init_from voice-to-any` continues the phone encoder that converter holds, not a new one."""
    run(toy_corpus, tmp_path / "continued", "--max_steps", "1", "--init_from", "voice-to-any")
    shipped = train_phone_encoder.load_encoder("voice-to-any")
    continued = PhoneEncoderModel.from_pretrained(tmp_path / "continued")
    assert continued.config.hidden_channels == shipped.config.hidden_channels == 256
    changes = [
        (after - before.float()).abs().max().item()
        for before, after in zip(shipped.state_dict().values(), continued.state_dict().values(), strict=True)
    ]
    assert 0 < max(changes) < 0.01  # one small step away from the shipped weights
