"""Hub round trips without network: a hand-made Hub cache read offline, and push/pull against `tests.hub_server`.

huggingface_hub reads HF_HOME, HF_HUB_OFFLINE and HF_ENDPOINT into module constants when it is imported, so
everything that loads from a repo id runs in a fresh interpreter (`run_loader`) with exactly the environment under
test. Pushes run in-process with `huggingface_hub.constants` patched instead: `HfApi` reads `ENDPOINT` when it is
built and the offline switch on every request, and importing transformers again would cost seconds per test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from huggingface_hub import constants
from huggingface_hub.errors import HfHubHTTPError
from safetensors.torch import load_file

from melgan_hf import (
    MelGANConfig,
    MelGANDiscriminator,
    MelGANFeatureExtractor,
    MelGANGenerator,
    MelGANVocoder,
)
from tests.hub_server import FakeHub

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHED_REPO = "someorg/melgan-test"
MISSING_REPO = "someorg/no-such-melgan"
PUSHED_REPO = "someorg/pushed-melgan"
from tests.conftest import HUB_TOKEN as TOKEN  # noqa: E402

PUSHED_FILES = {
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "discriminator/config.json",
    "discriminator/model.safetensors",
}
LOADER_TIMEOUT_S = 180  # generous: importing transformers alone takes several seconds on a small CPU machine

# Run as `python -c LOADER job.json`. Loads `job["repo_id"]` by repo id and writes what it got into `job["out"]`:
# report.json, audio.npy (vocoder.decode of mel.npy) and the state dicts as safetensors. Failures are reported,
# not raised, so that one failing part does not hide the others.
LOADER = textwrap.dedent(
    """
    import json, os, sys, time, traceback
    from pathlib import Path

    import numpy as np
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel
    from transformers.utils import cached_file

    from melgan_hf import MelGANVocoder

    job = json.loads(Path(sys.argv[1]).read_text())
    out = Path(job["out"])
    report = {"repo_is_a_local_path": os.path.exists(job["repo_id"])}

    def qualname(obj):
        return f"{type(obj).__module__}.{type(obj).__qualname__}"

    def save_state(module, name):
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(out / f"{name}.safetensors"))

    for loader in job.get("missing", []):
        start = time.monotonic()
        try:
            {"vocoder": MelGANVocoder, "auto_model": AutoModel}[loader].from_pretrained(job["missing_repo_id"])
            report[f"missing_{loader}"] = {"raised": None}
        except Exception as error:
            report[f"missing_{loader}"] = {
                "raised": type(error).__name__,
                "is_oserror": isinstance(error, OSError),
                "message": str(error),
                "seconds": time.monotonic() - start,
            }

    try:
        if job.get("auto_classes"):
            model = AutoModel.from_pretrained(job["repo_id"])
            report["auto_model"] = qualname(model)
            save_state(model, "auto_model")
            config = AutoConfig.from_pretrained(job["repo_id"])
            report["auto_config"] = qualname(config)
            report["auto_config_dict"] = config.to_dict()
            features = AutoFeatureExtractor.from_pretrained(job["repo_id"])
            report["auto_feature_extractor"] = qualname(features)
            report["auto_feature_extractor_dict"] = features.to_dict()
            report["config_path"] = cached_file(job["repo_id"], "config.json")
        vocoder = MelGANVocoder.from_pretrained(job["repo_id"], load_discriminator=True, precision="fp32")
        np.save(out / "audio.npy", vocoder.decode(np.load(job["mel"])))
        save_state(vocoder.generator, "generator")
        save_state(vocoder.discriminator, "discriminator")
    except Exception:
        report["load_error"] = traceback.format_exc()

    (out / "report.json").write_text(json.dumps(report))
    """
)


@dataclass
class LoaderResult:
    """What a `LOADER` run wrote, read back in the test process."""

    out: Path
    report: dict[str, Any]

    def array(self, name: str) -> np.ndarray:
        return np.load(self.out / f"{name}.npy")

    def state(self, name: str) -> dict[str, torch.Tensor]:
        return load_file(self.out / f"{name}.safetensors")

    def assert_loaded(self) -> None:
        assert "load_error" not in self.report, self.report["load_error"]
        assert not self.report["repo_is_a_local_path"], "the repo id must not resolve to a local folder"


def hub_env(hf_home: Path, **overrides: str) -> dict[str, str]:
    """This process's environment without any HF_* setting of the developer's, plus a private HF_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env.update(
        HF_HOME=str(hf_home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.update(overrides)
    return env


def run_loader(workdir: Path, env: dict[str, str], mel: np.ndarray, **job: Any) -> LoaderResult:
    """Run `LOADER` in a fresh interpreter, from an empty folder so that the repo id cannot be a local path."""
    out = workdir / "out"
    cwd = workdir / "cwd"
    out.mkdir(parents=True)
    cwd.mkdir()
    np.save(workdir / "mel.npy", mel)
    job_file = workdir / "job.json"
    job_file.write_text(json.dumps({**job, "out": str(out), "mel": str(workdir / "mel.npy")}))
    completed = subprocess.run(
        [sys.executable, "-c", LOADER, str(job_file)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=LOADER_TIMEOUT_S,
    )
    assert completed.returncode == 0, f"loader crashed:\n{completed.stdout}\n{completed.stderr}"
    return LoaderResult(out, json.loads((out / "report.json").read_text()))


def assert_same_state(loaded: dict[str, torch.Tensor], module: torch.nn.Module) -> None:
    expected = module.state_dict()
    assert loaded.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(loaded[name], tensor), name


def prefill_hub_cache(hf_home: Path, repo_id: str, folder: Path, commit: str) -> Path:
    """
    The layout `huggingface_hub` downloads into: `hub/models--{org}--{name}/snapshots/{commit}/…` plus
    `refs/main` naming the commit. Files are copied rather than symlinked into `blobs/`, as on systems without
    symlinks, which the cache also supports.
    """
    repo_cache = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_cache / "snapshots" / commit
    shutil.copytree(folder, snapshot)
    (repo_cache / "refs").mkdir()
    (repo_cache / "refs" / "main").write_text(commit)  # no trailing newline, as huggingface_hub writes it
    return snapshot


@dataclass
class OfflineRun:
    vocoder: MelGANVocoder
    mel: np.ndarray
    snapshot: Path
    result: LoaderResult


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory, tiny_config: MelGANConfig) -> OfflineRun:
    """
    One offline interpreter (HF_HUB_OFFLINE=1, HF_HOME = a hand-filled cache) serves both the cached-repo and the
    missing-repo tests: each interpreter spends seconds importing transformers. Its vocoder is built like conftest's
    `tiny_vocoder`, which is function-scoped and so cannot feed a module-scoped fixture.
    """
    workdir = tmp_path_factory.mktemp("offline")
    torch.manual_seed(0)
    vocoder = MelGANVocoder(
        MelGANGenerator(tiny_config), discriminator=MelGANDiscriminator(tiny_config), precision="fp32"
    )
    vocoder.save_pretrained(workdir / "saved")
    hf_home = workdir / "hf_home"
    snapshot = prefill_hub_cache(hf_home, CACHED_REPO, workdir / "saved", commit="0123456789abcdef" * 2 + "01234567")
    mel = np.random.default_rng(1).uniform(-5.0, 0.0, size=(24, tiny_config.num_mel_bins)).astype(np.float32)
    result = run_loader(
        workdir,
        hub_env(hf_home, HF_HUB_OFFLINE="1"),
        mel,
        repo_id=CACHED_REPO,
        auto_classes=True,
        missing_repo_id=MISSING_REPO,
        missing=["vocoder", "auto_model"],
    )
    return OfflineRun(vocoder, mel, snapshot, result)


def test_automodel_from_prefilled_hub_cache(offline_run: OfflineRun) -> None:
    result, vocoder = offline_run.result, offline_run.vocoder
    result.assert_loaded()
    report = result.report
    # Resolved through refs/main → snapshots/<commit>, not some other copy of the files.
    assert Path(report["config_path"]).resolve() == (offline_run.snapshot / "config.json").resolve()

    assert report["auto_model"] == f"{MelGANGenerator.__module__}.{MelGANGenerator.__qualname__}"
    assert_same_state(result.state("auto_model"), vocoder.generator)
    assert report["auto_config"] == f"{MelGANConfig.__module__}.{MelGANConfig.__qualname__}"
    assert report["auto_config_dict"]["model_type"] == "melgan"
    for key in ("ngf", "n_residual_layers", "ndf", "n_layers_D", "num_D", "num_mel_bins", "hop_length"):
        assert report["auto_config_dict"][key] == getattr(vocoder.config, key), key
    feature_class = f"{MelGANFeatureExtractor.__module__}.{MelGANFeatureExtractor.__qualname__}"
    assert report["auto_feature_extractor"] == feature_class
    assert report["auto_feature_extractor_dict"] == json.loads(json.dumps(vocoder.feature_extractor.to_dict()))

    assert np.array_equal(result.array("audio"), vocoder.decode(offline_run.mel))
    assert_same_state(result.state("generator"), vocoder.generator)
    assert_same_state(result.state("discriminator"), vocoder.discriminator)


def test_missing_repo_offline_fails_with_oserror(offline_run: OfflineRun) -> None:
    """Offline, a repo that is not in the cache is an immediate OSError (the interpreter's timeout bounds "quickly")."""
    for loader in ("vocoder", "auto_model"):
        outcome = offline_run.result.report[f"missing_{loader}"]
        assert outcome["raised"] is not None, f"{loader}: loading {MISSING_REPO} offline did not fail"
        assert outcome["is_oserror"], f"{loader}: {outcome}"


def test_missing_repo_offline_error_names_the_repo(offline_run: OfflineRun) -> None:
    outcome = offline_run.result.report["missing_vocoder"]
    assert outcome["is_oserror"], outcome
    assert MISSING_REPO in outcome["message"], outcome["message"]


def stored_files(hub: FakeHub, repo_id: str) -> dict[str, bytes]:
    with hub.lock:
        return dict(hub.repos[repo_id].files)


def saved_files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_push_to_hub_and_reload_from_local_server(
    fake_hub: FakeHub, tiny_vocoder: MelGANVocoder, random_mel: np.ndarray, tmp_path: Path
) -> None:
    commit_url = tiny_vocoder.push_to_hub(PUSHED_REPO, token=TOKEN)

    repo = fake_hub.repos[PUSHED_REPO]
    assert commit_url == f"{fake_hub.endpoint}/{PUSHED_REPO}/commit/{repo.head}"
    assert repo.messages[repo.head] == "Upload MelGAN vocoder"
    files = stored_files(fake_hub, PUSHED_REPO)
    pickles = [path for path in files if path.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    assert not pickles, f"pickled weights were uploaded: {pickles}"
    assert set(files) == PUSHED_FILES
    # Everything went inline through preupload + commit: no LFS batch, no Xet token request.
    assert not [request for request in fake_hub.requests if "lfs" in request or "xet" in request]
    assert fake_hub.unhandled == []

    fake_hub.requests.clear()
    result = run_loader(
        tmp_path / "pull",
        hub_env(tmp_path / "fresh_hf_home", HF_ENDPOINT=fake_hub.endpoint, HF_HUB_OFFLINE="0"),
        random_mel,
        repo_id=PUSHED_REPO,
    )
    result.assert_loaded()
    assert np.array_equal(result.array("audio"), tiny_vocoder.decode(random_mel))
    assert_same_state(result.state("generator"), tiny_vocoder.generator)
    assert_same_state(result.state("discriminator"), tiny_vocoder.discriminator)
    # The pull really went through the server, pinned to the pushed commit once `main` was resolved.
    downloads = {request.split(" ")[1] for request in fake_hub.requests if request.startswith(f"GET /{PUSHED_REPO}/")}
    assert downloads == {f"/{PUSHED_REPO}/resolve/{repo.head}/{path}" for path in PUSHED_FILES}
    assert fake_hub.unhandled == []


def test_push_to_hub_without_hf_xet_uploads_the_saved_files(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch, saved_vocoder: Path, tiny_vocoder: MelGANVocoder
) -> None:
    """Without hf_xet, `upload_folder` takes the single `create_commit` path instead of the streamed pipeline."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    tiny_vocoder.push_to_hub(PUSHED_REPO, token=TOKEN)
    assert stored_files(fake_hub, PUSHED_REPO) == saved_files(saved_vocoder)
    assert fake_hub.unhandled == []


def test_push_to_hub_again_makes_no_empty_commit(fake_hub: FakeHub, tiny_vocoder: MelGANVocoder) -> None:
    """The repo exists by then (create_repo gets a 409) and no file changed: the same commit comes back."""
    first = tiny_vocoder.push_to_hub(PUSHED_REPO, token=TOKEN)
    commits = len(fake_hub.repos[PUSHED_REPO].commits)
    assert tiny_vocoder.push_to_hub(PUSHED_REPO, token=TOKEN) == first
    assert len(fake_hub.repos[PUSHED_REPO].commits) == commits
    assert fake_hub.unhandled == []


def test_push_to_hub_with_a_wrong_token_fails(fake_hub: FakeHub, tiny_vocoder: MelGANVocoder) -> None:
    """The test Hub refuses writes without the right bearer token: the pushes above prove that `token=` is sent."""
    with pytest.raises(HfHubHTTPError, match="401"):
        tiny_vocoder.push_to_hub(PUSHED_REPO, token="wrong-token")
    assert PUSHED_REPO not in fake_hub.repos
