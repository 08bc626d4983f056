#!/usr/bin/env bash
# What some minutes of one GPU buy: the iSTFT recipe (cpu16k_istft.yaml) in bf16, continued from the shipped
# istft-vocoder-16k for MINUTES wall-clock minutes with GPU-sized batches, everything packed into few files:
#
#   DATA=CORPUS OUT=DIR [MINUTES=7] [BENCH=1] [WHEELS=DIR] bash benchmarks/gpu_finetune.sh
#
# OUT gets log.txt, model.tar (the model folder, generator in fp16), discriminator.safetensors (fp16) and every
# snapshot's generator (cpu_minutes_N.safetensors, fp16; score them with benchmarks/learning_curves.py after
# untarring the model folder beside them). BENCH=1 first times the training step (benchmarks/bench_training.py,
# GPU rows). WHEELS: a folder of wheels to install first, for machines without a package index. If bf16 fails
# within its first minutes, the same run follows in fp32.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
MINUTES=${MINUTES:-7}
OUT=${OUT:?set OUT to the folder for the results}
DATA=${DATA:?set DATA to a training corpus folder}
RUN=${RUN:-/tmp/istft-gpu}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
if [ -n "${WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
fi

train() {  # $1: precision, $2: minutes of training; loading and saving get 150 s more
  rm -rf "$RUN"
  timeout "$(python3 -c "print(int($2 * 60 + 150))")" $PY -m accelerate.commands.launch --mixed_precision "$1" --num_processes 1 --num_machines 1 \
    --dynamo_backend no training/train_vocoder.py --config training/configs/cpu16k_istft.yaml --data "$DATA" \
    --init_from istft-vocoder-16k --output_dir "$RUN" --max_minutes "$2" --snapshot_every_minutes "${SNAP:-1.75}" \
    --no_progress --set training.batch_size=32 training.learning_rate=1e-4 training.lr_decay=0.9999 \
    training.phase_iterations=8 training.save_every=2000 training.eval_every=2000 training.log_every=100
}

{
  date; nvidia-smi -L 2>&1 | head -2
  $PY -c "import torch, transformers, accelerate, librosa, auraloss, melgan_hf
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)" || exit 1
  if [ -n "${BENCH:-}" ]; then
    timeout 60 $PY benchmarks/bench_training.py --configs cpu16k_istft --recipe "" --rounds 1 --steps 10 --warmup 2
  fi
  started=$(date +%s)
  train bf16 "$MINUTES"; status=$?
  spent=$(( $(date +%s) - started ))
  echo "train: exit status $status after $spent s"
  if [ $status -ne 0 ] && [ $status -ne 124 ] && [ $spent -lt 150 ]; then  # in the same total time
    left=$(python3 -c "print(round($MINUTES - $spent / 60, 2))")
    echo "train: bf16 failed early; the same in fp32 for $left minutes"
    train no "$left"; echo "train: fp32 exit status $?"
  fi
  $PY - "$RUN" "$OUT" <<'PY'
import pathlib, shutil, sys, tarfile
from safetensors.torch import load_file, save_file
run, out = map(pathlib.Path, sys.argv[1:])
def half(source: pathlib.Path, target: pathlib.Path) -> None:
    save_file({k: v.half() if v.is_floating_point() else v for k, v in load_file(source).items()}, target)
pack = pathlib.Path("/tmp/istft-gpu-pack") / "istft-gpu"
shutil.rmtree(pack.parent, ignore_errors=True)
pack.mkdir(parents=True)
for name in ("config.json", "preprocessor_config.json", "README.md", "trainer_state.json", "train_log.jsonl"):
    if (run / name).exists():
        shutil.copy(run / name, pack / name)
if (run / "model.safetensors").exists():
    half(run / "model.safetensors", pack / "model.safetensors")
if (run / "discriminator" / "model.safetensors").exists():
    (pack / "discriminator").mkdir()
    shutil.copy(run / "discriminator" / "config.json", pack / "discriminator" / "config.json")
    half(run / "discriminator" / "model.safetensors", out / "discriminator.safetensors")
for snapshot in sorted((run / "snapshots").glob("cpu_minutes_*"))[:5]:
    half(snapshot / "model.safetensors", out / f"{snapshot.name}.safetensors")
if (run / "snapshots.jsonl").exists():
    shutil.copy(run / "snapshots.jsonl", pack / "snapshots.jsonl")
with tarfile.open(out / "model.tar", "w") as tar:
    tar.add(pack, arcname="istft-gpu")
print("packed", sorted(path.name for path in out.iterdir()))
PY
} 2>&1 | tee "$OUT/log.txt"
