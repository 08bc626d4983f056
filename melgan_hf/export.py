"""Export a MelGAN vocoder's generator to ONNX, for runtimes without PyTorch (onnxruntime, browsers, mobile)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .pipelines import MelGANVocoder


class _MelToWaveform(torch.nn.Module):
    """The folded generator with a plain tensor in and out: what an ONNX graph can hold."""

    def __init__(self, vocoder: MelGANVocoder) -> None:
        super().__init__()
        self.generator = vocoder.inference_generator()

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.generator(mel, return_dict=False)[0]


def export_onnx(vocoder: MelGANVocoder, path: str | os.PathLike, opset_version: int = 18) -> Path:
    """
    Write the generator (weight norm folded, fp32) as ONNX: input `mel`, float32 `(batch, frames, num_mel_bins)`
    log-mel in the vocoder's preset, with `frames ≥ generator.min_frames`; output `waveform`, `(batch, frames *
    hop_length)`. Batch and frames are dynamic. The mel front end is recorded in the model's metadata
    (`melgan_hf.<field>`), so a consumer can compute matching mels.
    """
    import onnx  # the [export] extra

    module = _MelToWaveform(vocoder).cpu().eval()
    config = vocoder.config
    example = torch.zeros(1, max(module.generator.min_frames, 16), config.num_mel_bins)
    dynamic_shapes = {
        "mel": {
            0: torch.export.Dim("batch", min=1, max=1024),
            1: torch.export.Dim("frames", min=module.generator.min_frames),
        }
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["mel"],
            output_names=["waveform"],
            dynamic_shapes=dynamic_shapes,
            opset_version=opset_version,
            dynamo=True,
            verbose=False,
        )
    model = onnx.load(str(path))
    fields = {**config.audio_kwargs, "min_frames": module.generator.min_frames, "model_type": config.model_type}
    for key, value in fields.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = f"melgan_hf.{key}", str(value)
    onnx.save(model, str(path))
    return path


__all__ = ["export_onnx"]
