#!/usr/bin/env bash
# The measurements a session with a GPU machine owes the multi-process engine, in one command, each result written
# under the folder given as soon as it exists (a step stopped at its time limit leaves the ones before it).
#   here, before:   EXTRA_WHEELS="orjson pyspng simplejpeg" ../shared/gpu/prepare.sh
#   on the device:  source .gpu-kit/setup.sh; bash benchmarks/gpu_check.sh "$OUT"     (carry: .gpu-kit)
# About 7 minutes of commands: within one device call, with time left of a 15-minute budget for the start.
set -u
out=${1:?usage: gpu_check.sh RESULTS_FOLDER}
mkdir -p "$out"
{
  nvidia-smi
  echo "cores: $(nproc)"
  python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'
} > "$out/machine.txt" 2>&1
# The fixed-weight explanation tests (batchnorm eps > 0 for torch 2.11) and the engine's tests, on CUDA.
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/explain/test_fixed_weights.py tests/engine \
  > "$out/tests.txt" 2>&1
# The model alone: the ceiling the service is compared with.
timeout 60 python3 .gpu-kit/ceiling.py > "$out/ceiling.jsonl" 2>&1
# In-process vs cores - 1 front-ends, batched vs unbatched, at the concurrency of the targets (256).
timeout 200 python3 -m benchmarks.serve_bench --duration 4 --rounds 2 --concurrency 32,256 \
  --out "$out/serve_bench.md" > "$out/serve_bench.log" 2>&1
echo "done: $(ls "$out")"
