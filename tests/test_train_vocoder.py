"""The vocoder trainer: it learns, it resumes exactly, it runs data-parallel, it fine-tunes, it survives bad data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from safetensors.torch import load_file

from melgan_hf import (
    MelAmplitudeRefiner,
    MelAmplitudeRefinerConfig,
    MelGANFeatureExtractor,
    MelGANGenerator,
    MelGANVocoder,
    StyleTransferPipeline,
)
from tests.conftest import assert_same_weights, kill_after_first_checkpoint, sine, steps_after_resume
from training.make_synthetic_corpus import write_corpus
from training.train_vocoder import main as train

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "training" / "train_vocoder.py"


def make_config(tmp_path: Path, model: dict | None = None, **training) -> Path:
    config = yaml.safe_load((REPO / "training" / "configs" / "tiny.yaml").read_text())
    config["training"].update(training)
    if model is not None:
        config["model"] = model
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def trainer_args(config: Path, data: Path, output_dir: Path, *extra: str) -> list[str]:
    """The trainer's command line: config, data and output folder, then `extra`."""
    return ["--config", str(config), "--data", str(data), "--output_dir", str(output_dir), *extra]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    write_corpus(folder, files=6, seconds=3.0)
    return folder


def run_script(
    *args: str, env_extra: dict | None = None, launcher: list[str] | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    command = [*(launcher or [sys.executable]), str(SCRIPT), *args, "--no_progress"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def held_out_mel_l1(vocoder: MelGANVocoder, clips: list[np.ndarray]) -> float:
    features = vocoder.feature_extractor
    distances = []
    for clip in clips:
        synthesised, _ = vocoder(clip, features.sampling_rate)
        reference = features(clip, sampling_rate=features.sampling_rate)["input_features"]
        output = features(synthesised, sampling_rate=features.sampling_rate)["input_features"]
        distances.append(np.abs(reference - output).mean())
    return float(np.mean(distances))


def test_fifty_steps_beat_a_fresh_model_on_held_out_audio(tmp_path, corpus) -> None:
    out = tmp_path / "out"
    train(trainer_args(make_config(tmp_path), corpus, out, "--max_steps", "50", "--no_progress"))
    trained = MelGANVocoder.from_pretrained(out, load_discriminator=True)
    assert trained.discriminator is not None and (out / "README.md").is_file()
    torch.manual_seed(0)
    fresh = MelGANVocoder(MelGANGenerator(trained.config))
    # Audio the trainer never saw: new melodies from another seed.
    unseen = tmp_path / "unseen"
    held_out = [sf.read(path, dtype="float32")[0] for path in write_corpus(unseen, files=2, seconds=2.0, seed=99)]
    trained_l1, fresh_l1 = held_out_mel_l1(trained, held_out), held_out_mel_l1(fresh, held_out)
    assert trained_l1 < 0.7 * fresh_l1, (trained_l1, fresh_l1)

    state = json.loads((out / "trainer_state.json").read_text())
    assert state["steps"] == 50 and state["validation_mel_l1_final"] < state["validation_mel_l1_initial"]
    card = (out / "README.md").read_text()
    assert (
        "| steps | 50 " in card
        and f"{state['validation_mel_l1_final']:.4f}" in card
        and "{" not in card.split("---")[2]
    )
    assert list((out / "logs").rglob("events.out.tfevents.*")), "no TensorBoard log"
    assert list((out / "samples").rglob("*.wav"))


def test_two_processes_end_with_identical_weights(tmp_path, corpus) -> None:
    out = tmp_path / "ddp"
    launcher = [
        str(Path(sys.executable).parent / "accelerate"),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ]
    run_script(
        *trainer_args(make_config(tmp_path), corpus, out, "--max_steps", "8"),
        launcher=launcher,
        env_extra={"ACCELERATE_USE_CPU": "true"},
    )
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["num_processes"] == 2
    first, second = state["replica_checksums"]
    assert first == second
    # The replicas really trained together: held-out quality improved.
    assert state["validation_mel_l1_final"] < state["validation_mel_l1_initial"]


def test_killed_run_resumes_to_the_same_weights(tmp_path, corpus) -> None:
    # speed perturbation on: its random speeds, too, must be a pure function of the step
    config = make_config(tmp_path, save_every=4, log_every=1, eval_every=1000, speed_perturbation=0.1)
    common = ["--config", str(config), "--data", str(corpus), "--max_steps", "12"]
    run_script(*common, "--output_dir", str(tmp_path / "straight"))

    interrupted = tmp_path / "interrupted"
    kill_after_first_checkpoint(
        [sys.executable, str(SCRIPT), *common, "--output_dir", str(interrupted), "--no_progress"], interrupted, REPO
    )
    result = run_script(*common, "--output_dir", str(interrupted), "--resume")
    state = json.loads((interrupted / "trainer_state.json").read_text())
    resumed_from = state["resumed_from_step"]
    assert resumed_from in (4, 8) and f"step {resumed_from}" in result.stdout
    assert steps_after_resume(interrupted / "train_log.jsonl", resumed_from) == list(range(resumed_from + 1, 13))
    assert_same_weights(tmp_path / "straight" / "model.safetensors", interrupted / "model.safetensors")
    discriminator = Path("discriminator", "model.safetensors")
    assert_same_weights(tmp_path / "straight" / discriminator, interrupted / discriminator)


def test_existing_checkpoints_need_resume(tmp_path, corpus) -> None:
    config = make_config(tmp_path, save_every=2)
    args = trainer_args(config, corpus, tmp_path / "o", "--max_steps", "2", "--no_progress")
    train(args)
    with pytest.raises(SystemExit, match="Pass --resume"):
        train(args)


def test_init_from_continues_generator_and_discriminator(tmp_path, corpus, capsys) -> None:
    config = make_config(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    train(trainer_args(config, corpus, first, "--max_steps", "6", "--no_progress"))
    train(trainer_args(config, corpus, second, "--max_steps", "3", "--init_from", str(first), "--no_progress"))
    assert f"init: generator and discriminator from {first}" in capsys.readouterr().out
    before = json.loads((first / "trainer_state.json").read_text())
    after = json.loads((second / "trainer_state.json").read_text())
    # Same held-out split: the fine-tuning run starts exactly where the first one ended.
    assert after["validation_mel_l1_initial"] == pytest.approx(before["validation_mel_l1_final"], rel=1e-5)
    d_first = load_file(first / "discriminator" / "model.safetensors")
    d_second = load_file(second / "discriminator" / "model.safetensors")
    assert all(d_second[name].shape == tensor.shape for name, tensor in d_first.items())
    changes = [(d_second[name] - tensor).abs().max().item() for name, tensor in d_first.items()]
    assert 0 < max(changes) < 1.0, "the discriminator should continue training from the loaded one, not restart"


def test_messy_folder_trains_and_the_report_names_bad_files(tmp_path, capsys) -> None:
    folder = tmp_path / "messy"
    (folder / "sub").mkdir(parents=True)
    stereo = np.stack([sine(300.0, 2.0, 44100), sine(450.0, 2.0, 44100)], axis=1)
    sf.write(folder / "stereo_44k.wav", stereo, 44100)
    sf.write(folder / "sub" / "low_8k.flac", sine(200.0, 2.0, 8000), 8000)
    sf.write(folder / "quiet.wav", np.zeros(22050, dtype=np.float32), 22050)
    sf.write(folder / "blip.wav", sine(300.0, 0.05), 22050)
    (folder / "corrupt.mp3").write_bytes(b"ID3 garbage that is not an mp3 stream" * 10)
    out = tmp_path / "out"
    train(trainer_args(make_config(tmp_path), folder, out, "--max_steps", "3", "--no_progress"))
    printed = capsys.readouterr().out
    assert "2 file(s) used" in printed
    assert "corrupt.mp3: unreadable" in printed and "quiet.wav: silent" in printed and "blip.wav: too short" in printed
    skipped = json.loads((out / "trainer_state.json").read_text())["data"]["skipped"]
    assert set(skipped) == {"corrupt.mp3", "quiet.wav", "blip.wav"}
    assert MelGANVocoder.from_pretrained(out).sampling_rate == 22050


def test_bad_training_config_names_the_key(tmp_path, corpus) -> None:
    config = make_config(tmp_path, batch_sise=4)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['batch_sise'\]"):
        train(trainer_args(config, corpus, tmp_path / "o"))
    for bad, message in (
        ({"speed_perturbation": 1.5}, "speed_perturbation"),
        ({"stft_resolutions": [[512, 1024, 512]]}, "hop <= window <= n_fft"),
        ({"stft_resolutions": [[512, 128]]}, "n_fft, hop, window"),
        ({"subband_stft_resolutions": [[128, 256, 128]]}, r"subband_stft_resolutions: \[128, 256, 128\] needs hop"),
        ({"phase_iterations": -1}, "phase_iterations"),
    ):
        config = make_config(tmp_path, **bad)
        with pytest.raises(ValueError, match=message):
            train(trainer_args(config, corpus, tmp_path / "o"))
    config.write_text("model: {preset: melgan, hop_length: 300}\ntraining: {}\n")
    with pytest.raises(ValueError, match="must multiply to hop_length"):
        train(trainer_args(config, corpus, tmp_path / "o"))


def test_set_overrides_config_values_and_names_bad_items(tmp_path, corpus) -> None:
    out = tmp_path / "o"
    overrides = ["training.batch_size=3", "model.leaky_relu_slope=0.3", "training.adam_betas=[0.8, 0.99]"]
    overrides.append("training.learning_rate=3e-4")  # a float, though YAML 1.1 reads it as a string
    train(trainer_args(make_config(tmp_path), corpus, out, "--max_steps", "1", "--no_progress", "--set", *overrides))
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["training"]["batch_size"] == 3 and state["training"]["adam_betas"] == [0.8, 0.99]
    assert state["training"]["learning_rate"] == 3e-4
    assert state["overrides"] == overrides
    assert MelGANVocoder.from_pretrained(out).generator.config.leaky_relu_slope == 0.3
    for bad, message in (
        ("training.batch_size", "expected SECTION.KEY=VALUE"),
        ("batch_size=3", "expected SECTION.KEY=VALUE"),
        ("optimizer.lr=1", "unknown section 'optimizer'"),
        ("training.batch_size=[1", "not valid YAML"),
    ):
        with pytest.raises(SystemExit, match=message):
            train(trainer_args(make_config(tmp_path), corpus, tmp_path / "bad", "--set", bad))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['batch_sise'\]"):
        train(trainer_args(make_config(tmp_path), corpus, tmp_path / "bad", "--set", "training.batch_sise=3"))


def test_feature_extractor_is_the_one_used_for_training(tmp_path, corpus) -> None:
    out = tmp_path / "o"
    train(trainer_args(make_config(tmp_path), corpus, out, "--max_steps", "1", "--no_progress"))
    assert MelGANFeatureExtractor.from_pretrained(out).audio_fields == MelGANFeatureExtractor().audio_fields


def test_push_to_hub_uploads_the_model_and_its_card(tmp_path, corpus, fake_hub, monkeypatch) -> None:
    from tests.conftest import HUB_TOKEN

    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    out = tmp_path / "o"
    train(
        trainer_args(
            make_config(tmp_path),
            corpus,
            out,
            "--max_steps",
            "2",
            "--push_to_hub",
            "someorg/my-vocoder",
            "--no_progress",
        )
    )
    with fake_hub.lock:
        stored = dict(fake_hub.repos["someorg/my-vocoder"].files)
    assert stored["model.safetensors"] == (out / "model.safetensors").read_bytes()
    assert stored["README.md"] == (out / "README.md").read_bytes()
    assert "discriminator/model.safetensors" in stored
    assert not any(name.startswith(("checkpoints/", "logs/")) for name in stored)


# The iSTFT recipe (training/configs/cpu16k_istft.yaml), small.
ISTFT_MODEL = {
    "preset": "melgan",
    "generator_head": "istft",
    "frame_channels": 16,
    "frame_dilations": [1, 2],
    "phase_iterations": 2,
    "phase_advance": True,
    "ndf": 8,
    "n_layers_D": 3,
    "num_D": 2,
}


def test_istft_recipe_pretrains_the_generator_then_adds_the_discriminator(tmp_path, corpus, capsys) -> None:
    out = tmp_path / "istft"
    extra = {
        "lambda_stft": 1.0,
        "lambda_phase": 1.0,
        "lambda_amplitude": 1.0,
        "adversarial_start_step": 20,
        "log_every": 5,
        "phase_iterations": 1,
    }
    config = make_config(tmp_path, model=ISTFT_MODEL, **extra)
    train(trainer_args(config, corpus, out, "--max_steps", "30"))
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    before, after = [e for e in log if e["step"] <= 20], [e for e in log if e["step"] > 20]
    assert before and after
    assert all("discriminator" not in entry and "feature_matching" not in entry for entry in before)
    assert all({"discriminator", "feature_matching", "stft", "phase", "amplitude"} <= entry.keys() for entry in after)
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["validation_mel_l1_final"] < 0.9 * state["validation_mel_l1_initial"]
    trained = MelGANVocoder.from_pretrained(out, load_discriminator=True)
    assert trained.config.generator_head == "istft" and trained.discriminator is not None
    assert "2 fast Griffin-Lim projections (1 while training)" in (out / "README.md").read_text()

    # Continuing it: settings without weights follow the config's model section, the architecture the saved model.
    config = make_config(tmp_path, model={**ISTFT_MODEL, "phase_iterations": 3, "frame_channels": 99}, **extra)
    continued = tmp_path / "continued"
    train(trainer_args(config, corpus, continued, "--max_steps", "2", "--init_from", str(out)))
    assert "init: {'phase_iterations': 3} from the config's 'model' section" in capsys.readouterr().out
    continued_config = MelGANVocoder.from_pretrained(continued).config
    assert (continued_config.phase_iterations, continued_config.frame_channels) == (3, 16)
    config = make_config(tmp_path, model={"phase_iterations": -1})
    with pytest.raises(ValueError, match="phase_iterations"):
        train(trainer_args(config, corpus, tmp_path / "o", "--init_from", str(out)))


def test_the_training_step_runs_its_own_projections_and_the_model_keeps_its_number(tmp_path, corpus) -> None:
    from accelerate import Accelerator

    from training.common import make_adam
    from training.train_vocoder import GANStep, VocoderTrainingConfig, build_models

    accelerator = Accelerator(cpu=True)
    generator, discriminator, features = build_models(ISTFT_MODEL, None, accelerator)
    optimizers = [make_adam(net.parameters(), 1e-4, (0.5, 0.9)) for net in (generator, discriminator)]
    step = GANStep(
        accelerator, generator, discriminator, *optimizers, features, VocoderTrainingConfig(phase_iterations=5)
    )
    projections = []
    project = generator.front_end.spectrogram_parts
    generator.front_end.spectrogram_parts = lambda audio: projections.append(audio.shape) or project(audio)
    step(0.1 * torch.randn(2, 4096), adversarial=False)
    assert len(projections) == 5 and generator.config.phase_iterations == ISTFT_MODEL["phase_iterations"]

    with pytest.raises(SystemExit, match="needs an iSTFT generator"):
        config = make_config(tmp_path, phase_iterations=2)  # tiny.yaml: a waveform generator
        train(trainer_args(config, corpus, tmp_path / "o"))


def test_stft_loss_is_auralosss_at_the_configured_resolutions() -> None:
    """The trainer's lean STFT loss (no phase computed, no graph for the recording) gives auraloss's value and
    gradient, at the configured resolutions and at auraloss's defaults when none are configured."""
    from accelerate import Accelerator
    from auraloss.freq import MultiResolutionSTFTLoss

    from training.train_vocoder import GANStep, VocoderTrainingConfig, build_models

    accelerator = Accelerator(cpu=True)
    generator, discriminator, features = build_models(ISTFT_MODEL, None, accelerator)
    generated = torch.randn(3, 1, 4096, generator=torch.Generator().manual_seed(0), requires_grad=True)
    recorded = torch.randn(3, 1, 4096, generator=torch.Generator().manual_seed(1))
    resolutions = [[256, 64, 128], [512, 128, 512]]
    for configured, reference in (
        (resolutions, MultiResolutionSTFTLoss([256, 512], [64, 128], [128, 512])),
        (None, MultiResolutionSTFTLoss()),
    ):
        config = VocoderTrainingConfig(lambda_stft=1.0, stft_resolutions=configured)
        step = GANStep(accelerator, generator, discriminator, None, None, features, config)
        loss, expected = step.stft_loss(generated, recorded), reference(generated, recorded)
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
        gradient, expected_gradient = (torch.autograd.grad(value, generated)[0] for value in (loss, expected))
        torch.testing.assert_close(gradient, expected_gradient, rtol=1e-4, atol=1e-8)

    # At the front end's resolution it takes the mel loss's magnitudes (the front end's framing, half a hop later)
    # instead of computing its own: the same measure, and the gradient flows through them.
    front_end = [features.n_fft, features.hop_length, features.win_length]
    step = GANStep(
        accelerator,
        generator,
        discriminator,
        None,
        None,
        features,
        VocoderTrainingConfig(lambda_stft=1.0, stft_resolutions=[front_end]),
    )
    shared = tuple(features.magnitude_spectrogram(audio) for audio in (generated, recorded))
    own, from_shared = step.stft_loss(generated, recorded), step.stft_loss(generated, recorded, shared=shared)
    assert from_shared.item() != own.item() and from_shared.item() == pytest.approx(own.item(), rel=0.05)
    assert step.stft_loss(generated, recorded, shared=(shared[1], shared[1])).item() == pytest.approx(0, abs=1e-6)
    torch.autograd.grad(from_shared, generated)  # raises if the shared magnitudes carried no graph


def test_amplitude_branch_starts_from_a_refiner_and_a_cpu_budget_stops_with_snapshots(tmp_path, corpus, capsys):
    refiner_config = MelAmplitudeRefinerConfig.from_preset(
        "melgan", hidden_channels=16, dilations=[1, 2], leaky_relu_slope=0.2
    )
    refiner = MelAmplitudeRefiner(refiner_config)
    torch.nn.init.normal_(refiner.amplitude.conv_post.weight, std=0.05)
    refiner.save_pretrained(tmp_path / "refiner")
    out = tmp_path / "budget"
    budget = ["--max_minutes", "0.0001", "--snapshot_every_minutes", "0.00005"]
    arguments = ["--data", str(corpus), "--output_dir", str(out), "--max_steps", "1000", *budget]
    init = ["--init_amplitude_from", str(tmp_path / "refiner")]
    config = make_config(tmp_path, model=ISTFT_MODEL, learning_rate=1e-4)
    train(["--config", str(config), *arguments, *init])
    assert "init: amplitude branch from" in capsys.readouterr().out
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["steps"] < 1000
    snapshots = [json.loads(line) for line in (out / "snapshots.jsonl").read_text().splitlines()]
    assert snapshots and snapshots[-1]["step"] == state["steps"]
    generator = MelGANVocoder.from_pretrained(snapshots[-1]["path"]).generator
    # an Adam step moves a weight by about the learning rate: still the refiner's, not a fresh (zero) residual
    moved = (generator.amplitude.conv_post.weight - refiner.amplitude.conv_post.weight).abs().max().item()
    assert moved <= 1.5e-4 * state["steps"], moved
    # a resumed run counts its CPU minutes on from the checkpoint: budgets and curves span runs
    first_minutes = snapshots[-1]["cpu_minutes"]
    longer = [*arguments[:-4], "--max_minutes", str(first_minutes + 0.0002), "--snapshot_every_minutes", "1e-5"]
    train(["--config", str(config), *longer, "--resume"])
    resumed = [json.loads(line) for line in (out / "snapshots.jsonl").read_text().splitlines()][len(snapshots) :]
    assert resumed and all(point["cpu_minutes"] > first_minutes for point in resumed)

    cases = [
        (None, init, "needs an iSTFT generator"),
        ({**ISTFT_MODEL, "frame_dilations": [1, 4]}, init, "differs"),
        (ISTFT_MODEL, ["--init_amplitude_from", str(tmp_path / "nowhere")], "cannot load an amplitude refiner"),
    ]
    for model, source, message in cases:
        with pytest.raises(SystemExit, match=message):
            refused = ["--output_dir", str(tmp_path / "refused")]
            train(["--config", str(make_config(tmp_path, model=model)), *arguments, *refused, *source])


def test_minute_budgets_count_cpu_time_on_a_cpu_and_wall_time_on_an_accelerator() -> None:
    import time

    from training.common import budget_clock

    assert budget_clock(torch.device("cpu")) is time.process_time
    # a GPU process mostly waits for the device, which costs no CPU time: the budget must still run out
    assert budget_clock(torch.device("cuda", 0)) is time.monotonic
    assert budget_clock(torch.device("mps")) is time.monotonic


def test_audio_with_mel_crops_audio_and_mel_together() -> None:
    from training.dataset import SegmentSampler
    from training.train_vocoder import audio_with_mel

    hop, frames = 4, 30
    audio = np.repeat(np.arange(frames, dtype=np.float32), hop)[:-2]  # each sample holds its frame's number
    mel = torch.arange(frames, dtype=torch.float32)[:, None].repeat(1, 3) + 0.5
    joined = audio_with_mel(audio, mel, hop)
    assert joined.shape == (frames - 1, hop + 3)  # the last, incomplete frame of audio is dropped
    segments = SegmentSampler([joined], 8, seed=0).batch(step=0, batch_size=5)
    samples, mels = segments[..., :hop].flatten(1), segments[..., hop:]
    assert torch.equal(samples.reshape(5, 8, hop)[..., 0] + 0.5, mels[..., 0])  # the same frames in every row


def test_prematched_training_feeds_the_converters_rebuilt_mels(tmp_path) -> None:
    from tests.test_knn_vc import tiny_16k_vocoder, tiny_converter

    corpus = tmp_path / "target"
    write_corpus(corpus, files=5, seconds=2.0, sampling_rate=16000)
    converter = tmp_path / "converter"
    StyleTransferPipeline(tiny_converter(k=2), tiny_16k_vocoder()).save_pretrained(converter)
    config = make_config(tmp_path, model={**ISTFT_MODEL, "preset": "speech16k"}, phase_iterations=1, log_every=1)
    plain, prematched = tmp_path / "plain", tmp_path / "prematched"
    train(trainer_args(config, corpus, plain, "--max_steps", "2", "--no_progress"))
    train(trainer_args(config, corpus, prematched, "--max_steps", "2", "--no_progress", "--prematched", str(converter)))
    before, after = (json.loads((out / "trainer_state.json").read_text()) for out in (plain, prematched))
    assert after["prematched"] == str(converter) and before["prematched"] is None
    # Same generator and clips; the validation input is now the kNN-rebuilt mel, which copy-synthesis never sees.
    assert after["validation_mel_l1_initial"] != pytest.approx(before["validation_mel_l1_initial"], rel=1e-3)
    assert np.isfinite(after["validation_mel_l1_final"])

    melgan_22k = make_config(tmp_path)  # the tiny 22 kHz vocoder cannot learn from a 16 kHz converter's mels
    with pytest.raises(ValueError, match="mel front end"):
        train(trainer_args(melgan_22k, corpus, tmp_path / "o", "--max_steps", "1", "--prematched", str(converter)))
