"""What every trainer shares: YAML configs, atomic checkpoints and resume, model cards."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import Accelerator

CHECKPOINT_DIR = "checkpoints"
_CHECKPOINT_NAME = re.compile(r"^step_(\d+)$")
MODEL_CARDS = Path(__file__).resolve().parents[1] / "model_cards"


def load_yaml(path: str | os.PathLike, sections: tuple[str, ...] = ("model", "training")) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Config file {path} not found.")
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a mapping with the sections {list(sections)}.")
    unknown = set(content) - set(sections)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; expected {list(sections)}.")
    return content


def apply_overrides(content: dict[str, Any], overrides: list[str], sections: tuple[str, ...]) -> dict[str, Any]:
    """`SECTION.KEY=VALUE` items (VALUE read as YAML) over a loaded config, so one recipe file serves other
    machines (a GPU's bigger batches, say) without a copy of it."""
    content = {name: dict(values or {}) for name, values in content.items()}
    for item in overrides:
        key, equals, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not equals or not dot or not name:
            raise ValueError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. training.batch_size=32.")
        if section not in sections:
            raise ValueError(f"--set {item!r}: unknown section {section!r}; expected one of {list(sections)}.")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"--set {item!r}: the value is not valid YAML: {error}") from error
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        content.setdefault(section, {})[name] = value
    return content


def dataclass_from_dict(cls: type, values: dict[str, Any] | None, source: str) -> Any:
    """Build a config dataclass, naming unknown or mistyped keys instead of ignoring them."""
    values = dict(values or {})
    names = {item.name for item in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {sorted(unknown)}; known keys: {sorted(names)}.")
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: {error}") from error


class TrainState:
    """
    The step counter and the CPU seconds trained so far (over all resumed runs, for budgets and learning curves),
    saved in every checkpoint through `accelerator.register_for_checkpointing`.
    """

    def __init__(self) -> None:
        self.step = 0
        self.cpu_seconds = 0.0

    def state_dict(self) -> dict[str, float]:
        return {"step": self.step, "cpu_seconds": self.cpu_seconds}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.step = int(state["step"])
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))  # checkpoints from before it was counted

    def budget_used(self, max_steps: int, max_minutes: float | None) -> float:
        """Share of the run's budget spent: the steps, or the CPU minutes where those run out first."""
        by_steps = self.step / max_steps
        return max(by_steps, self.cpu_seconds / 60 / max_minutes) if max_minutes else by_steps


def budget_clock(device: torch.device) -> Callable[[], float]:
    """The clock `--max_minutes` runs on: CPU time on a CPU, so runs sharing cores are compared fairly; wall-clock
    time on an accelerator, where the process mostly waits for the device and its data threads would count double."""
    return time.process_time if device.type == "cpu" else time.monotonic


def set_warmup_cosine_lr(
    optimizer: torch.optim.Optimizer, peak: float, warmup_steps: int, step: int, budget: float
) -> None:
    """Linear warm-up to `peak`, then cosine decay over the budget (0 → 1), so a CPU-minute budget ends cooled."""
    warmup = min(1.0, (step + 1) / warmup_steps)
    for group in optimizer.param_groups:
        group["lr"] = peak * warmup * 0.5 * (1 + math.cos(math.pi * min(budget, 1.0)))


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The complete checkpoint with the highest step. Partial ones never match: they are renamed into place."""
    folder = Path(output_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return None
    steps = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT_NAME.match(p.name)) and p.is_dir()]
    return max(steps)[1] if steps else None


def save_checkpoint(accelerator: Accelerator, output_dir: str | os.PathLike, step: int, keep: int) -> Path:
    """
    `accelerator.save_state` into a temporary folder, then one rename: a run killed mid-save leaves no folder that
    `latest_checkpoint` would pick. Keeps the newest `keep` checkpoints.
    """
    folder = Path(output_dir) / CHECKPOINT_DIR
    final = folder / f"step_{step:08d}"
    partial = folder / f".partial_step_{step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        completed = sorted(p for p in folder.iterdir() if _CHECKPOINT_NAME.match(p.name))
        for old in completed[: max(0, len(completed) - keep)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def render_model_card(template: str, values: dict[str, Any]) -> str:
    """Fill `model_cards/<template>` ({name} placeholders); a missing value is a bug, so it raises."""
    text = (MODEL_CARDS / template).read_text()
    return text.format(**values)


def write_json(path: str | os.PathLike, content: dict[str, Any]) -> None:
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(content, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(partial, path)


def make_accelerator(output_dir: Path, gradient_accumulation_steps: int, mixed_precision: str | None) -> Accelerator:
    """An `Accelerator` logging to TensorBoard in `output_dir/logs` when tensorboard is installed."""
    kwargs: dict[str, Any] = {"gradient_accumulation_steps": gradient_accumulation_steps}
    if mixed_precision:
        kwargs["mixed_precision"] = mixed_precision
    try:
        import tensorboard  # noqa: F401

        kwargs.update(log_with="tensorboard", project_dir=str(output_dir))
    except ImportError:
        print("tensorboard is not installed: no TensorBoard logs (pip install 'melgan-hf[train]')", file=sys.stderr)
    return Accelerator(**kwargs)


def make_adam(parameters: Any, learning_rate: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """Adam with the fused kernel: one pass over all parameters instead of a dozen, a ~3× faster optimizer step on
    the CPU (where small frame-rate models spend a tenth of a step in it) and on GPUs."""
    return torch.optim.Adam(parameters, lr=learning_rate, betas=betas, fused=True)


def refuse_to_overwrite(output_dir: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from; stops when `output_dir` holds a run and `--resume` was not given."""
    checkpoint = latest_checkpoint(output_dir)
    if checkpoint is not None and not resume:
        raise SystemExit(
            f"{output_dir} already holds checkpoints (newest: {checkpoint.name}). Pass --resume to continue that run,"
            " or choose another --output_dir; nothing was overwritten."
        )
    return checkpoint


def scalar_hparams(values: dict[str, Any]) -> dict[str, Any]:
    """TensorBoard takes only scalars and strings as hyper-parameters."""
    return {key: value if isinstance(value, (int, float, str)) else str(value) for key, value in values.items()}


def append_log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as log:
        log.write(json.dumps(record) + "\n")


def replica_checksums(accelerator: Accelerator, *modules: torch.nn.Module) -> list[float]:
    """A checksum of the weights on every process: data-parallel replicas must end identical."""
    checksum = sum(float(p.detach().double().pow(2).sum()) for module in modules for p in module.parameters())
    gathered = accelerator.gather(torch.tensor([checksum], dtype=torch.float64, device=accelerator.device))
    return gathered.cpu().tolist()


def format_duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def describe_device(accelerator: Accelerator) -> str:
    if accelerator.device.type == "cuda":
        name = torch.cuda.get_device_name(accelerator.device)
    else:
        name = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return f"{accelerator.num_processes} × {name}"
