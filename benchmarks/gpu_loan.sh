#!/usr/bin/env bash
# The one script for a lent GPU (issue 24), about 9 minutes of device time in all:
#   (a) tests/test_cuda.py: bf16 and fp32 CUDA steps against the CPU fp32 step, no host synchronisation in
#       the steps, the translator stage in bf16, a translator run killed and resumed against an uninterrupted
#       one, the benchmark's smoke run on CUDA (NCCL scaling too with 2 GPUs);
#   (b) benchmarks/gpu_paper_scale.py at paper scale: the JSON for docs/gpu_paper_scale_<device>.json;
#   (c) with more than one GPU visible, the same run with --nproc <GPUs> (DDP scaling efficiency).
# From the device tool, with this checkout's commit filled in (the copied tree there has no .git):
#   run(command="S2I_COMMIT=<git rev-parse HEAD> bash benchmarks/gpu_loan.sh", timeout_s=600)
# Everything lands in $OUT (the device tool's output folder; ./gpu_loan_out elsewhere): summary.txt,
# device.txt, test_cuda.log, gpu_paper_scale.log and gpu_paper_scale_<device>.json. Copy the JSON to docs/.
# A dry run of the script itself on a CPU: BENCH_ARGS="--smoke --device cpu" bash benchmarks/gpu_loan.sh
set -u
OUT=${OUT:-gpu_loan_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
started=$(date +%s)
note() { echo "$(( $(date +%s) - started ))s $*" | tee -a "$OUT/summary.txt"; }

note "commit ${S2I_COMMIT:-unknown}"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  $PY -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.device_count(), torch.cuda.get_device_name())"
} > "$OUT/device.txt" 2>&1
gpus=$($PY -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
device=$($PY -c "import re, torch; n = torch.cuda.get_device_name().lower(); print(next((m for m in re.findall(r'[a-z]+\d+[a-z]*', n) if m != 'nvidia'), 'gpu'))" 2>/dev/null || echo gpu)
note "gpus $gpus, device $device"

# (a) The CUDA tests. --noconftest: the shared conftest imports ffmpeg-python, which the device image lacks;
# these tests use pytest's own fixtures only.
timeout 240 $PY -m pytest -q -s -rA --noconftest -p no:cacheprovider tests/test_cuda.py > "$OUT/test_cuda.log" 2>&1
note "tests/test_cuda.py exit $? ($(grep -E '[0-9]+ (passed|failed|skipped|error)' "$OUT/test_cuda.log" | tail -n 1))"

# (b) and (c): paper scale, one JSON; with several GPUs the DDP scaling run comes right after the main figures.
scaling=()
if [ "$gpus" -gt 1 ]; then scaling=(--nproc "$gpus"); fi
left=$(( 560 - ($(date +%s) - started) ))
budget=$(( left - 60 < 300 ? left - 60 : 300 ))
if [ "$budget" -lt 120 ]; then budget=120; fi
timeout $(( budget + 90 )) $PY benchmarks/gpu_paper_scale.py --budget-s "$budget" "${scaling[@]}" ${BENCH_ARGS:-} \
    --out "$OUT/gpu_paper_scale_$device.json" > "$OUT/gpu_paper_scale.log" 2>&1
note "gpu_paper_scale.py exit $? (budget ${budget}s): $OUT/gpu_paper_scale_$device.json"
$PY - "$OUT/gpu_paper_scale_$device.json" >> "$OUT/summary.txt" 2>&1 <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))
print("verdict", json.dumps(f.get("verdict")))
print("skipped", f.get("skipped"), "error", f.get("error"))
for name, table in f.get("gan_variants", {}).items():
    print(name, {k: round(v.get("epoch_s", float("nan")), 2) for k, v in table.items() if isinstance(v, dict)})
EOF
note "done"
