#!/usr/bin/env bash
# Build the firmware program of an edgeseg export on this PC against the vendored TensorFlow Lite Micro tree
# (reference kernels, bit-exact with the tflite-micro Python interpreter), then optionally run it.
#
#   deploy/firmware/build_host.sh DEPLOY_DIR [INPUT.raw OUTPUT.raw [MASK.pgm]]
#
# DEPLOY_DIR: a folder deploy wrote with model_data.cc, model_ops.h, tiling_config.h and tiled_inference.cc
#   (the export folder of `--targets tflm`, or its firmware/ folder with `--mcu-ram`).
# INPUT.raw / OUTPUT.raw / MASK.pgm: see host_main.cc (int8 HWC in, raw int8 out, thresholded mask).
# BUILD_DIR (environment, default ./build/firmware_host): object files are kept there and reused, so a second
#   model with the same operators only recompiles its own three files. JOBS: parallel compiles (default: cores).
# Only the kernels model_ops.h registers are compiled. Prints the path of the built program last.
set -euo pipefail

usage() { echo "usage: $0 DEPLOY_DIR [INPUT.raw OUTPUT.raw [MASK.pgm]]" >&2; exit 2; }
[[ $# -eq 1 || $# -eq 3 || $# -eq 4 ]] || usage
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tflm="${TFLM_DIR:-$here/../../third_party/tflite-micro}"
deploy="$(cd "$1" 2>/dev/null && pwd)" || { echo "$1: no such folder" >&2; exit 2; }
for f in model_data.cc model_data.h model_ops.h tiling_config.h tiled_inference.cc tiled_inference.h; do
  [[ -f "$deploy/$f" ]] || { echo "$deploy/$f: missing (export with --targets tflm, or use its firmware/ folder)" >&2; exit 2; }
done
for tool in cmake c++; do
  command -v "$tool" >/dev/null || { echo "$tool: not found on PATH" >&2; exit 2; }
done

# Kernel sources: model_ops.h calls resolver.AddX(); the resolver header says AddX registers Register_Y();
# the kernel file defining Register_Y() is compiled, with its *_common.cc and the shared kernel utilities.
kernels_dir="$tflm/tensorflow/lite/micro/kernels"
resolver_h="$tflm/tensorflow/lite/micro/micro_mutable_op_resolver.h"
kernels="kernel_util.cc"
for add in $(grep -o 'resolver\.Add[A-Za-z0-9]*' "$deploy/model_ops.h" | sed 's/resolver\.//' | sort -u); do
  regs=$(sed -n "/TfLiteStatus ${add}(/,/^  }/p" "$resolver_h" | grep -o 'Register_[A-Za-z0-9_]*' | sort -u || true)
  [[ -n "$regs" ]] || { echo "$deploy/model_ops.h: $add is not a TFLite-Micro resolver method" >&2; exit 2; }
  for reg in $regs; do
    file=$(grep -l "TFLMRegistration ${reg}()" "$kernels_dir"/*.cc | head -n 1 || true)
    [[ -n "$file" ]] || { echo "$reg: no kernel source in $kernels_dir" >&2; exit 2; }
    base=$(basename "$file" .cc)
    kernels+=";$base.cc"
    [[ -f "$kernels_dir/${base}_common.cc" ]] && kernels+=";${base}_common.cc"
  done
done
kernels=$(tr ';' '\n' <<<"$kernels" | sort -u | paste -sd ';' -)

build="${BUILD_DIR:-$PWD/build/firmware_host}"
generator=()
if command -v ninja >/dev/null && [[ ! -f "$build/CMakeCache.txt" ]]; then generator=(-G Ninja); fi
mkdir -p "$build"
log="$build/build.log"
if ! { cmake -S "$here" -B "$build" "${generator[@]}" -DTFLM_DIR="$tflm" -DEDGESEG_DEPLOY_DIR="$deploy" \
         -DEDGESEG_KERNELS="$kernels" &&
       cmake --build "$build" --parallel "${JOBS:-$(nproc 2>/dev/null || echo 2)}"; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "build failed; full log: $log" >&2
  exit 1
fi
program="$build/edgeseg_host"
if [[ $# -ge 3 ]]; then "$program" "${@:2}"; fi
echo "$program"
