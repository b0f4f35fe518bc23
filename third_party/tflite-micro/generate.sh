#!/usr/bin/env bash
# Regenerate this folder: TFLM's own tree generator (create_tflm_tree.py) at the pinned commit, with its
# third-party downloads (flatbuffers, gemmlowp, ruy, kissfft) taken from git at the versions TFLM's
# tensorflow/lite/micro/tools/make/third_party_downloads.inc and flatbuffers_download.sh pin, instead of
# its make rules downloading the release zips (same sources, same patches).
#
#   third_party/tflite-micro/generate.sh OUT_DIR
#
# Needs git, patch, make, python3 with numpy and Pillow (the generator imports them). Set TFLM_REPO,
# FLATBUFFERS_REPO, GEMMLOWP_REPO, RUY_REPO, KISSFFT_REPO to local clones to work offline.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
out="$(mkdir -p "$1" && cd "$1" && pwd)"

TFLM_COMMIT=90b983c2b3f1480642e040bbd2ddb37b998f3424
FLATBUFFERS_REF=v25.9.23
GEMMLOWP_REF=719139ce755a0f31cbf1c37f7f98adcc7fc9f425
RUY_REF=d37128311b445e758136b8602d1bbd2a755e115d
KISSFFT_REF=v130

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "${TFLM_REPO:-https://github.com/tensorflow/tflite-micro}" "$work/tflm"
git -C "$work/tflm" checkout -q "$TFLM_COMMIT"
downloads="$work/tflm/tensorflow/lite/micro/tools/make/downloads"
mkdir -p "$downloads/pigweed"  # pigweed is only used by TFLM's own tests; an empty folder skips its download

fetch() {  # fetch NAME REPO REF: the repository at REF, exported into downloads/NAME
  git clone -q "$2" "$work/src_$1"
  git -C "$work/src_$1" archive --prefix="$1/" "$3" | tar -x -C "$downloads"
}
fetch flatbuffers "${FLATBUFFERS_REPO:-https://github.com/google/flatbuffers}" "$FLATBUFFERS_REF"
fetch gemmlowp "${GEMMLOWP_REPO:-https://github.com/google/gemmlowp}" "$GEMMLOWP_REF"
fetch ruy "${RUY_REPO:-https://github.com/google/ruy}" "$RUY_REF"
fetch kissfft "${KISSFFT_REPO:-https://github.com/mborgerding/kissfft}" "$KISSFFT_REF"
find "$downloads" -type f \( -name BUILD -o -name BUILD.bazel \) -delete
patch -s -p1 -d "$downloads/flatbuffers" < "$downloads/../flatbuffers.patch"
patch -s -p1 -d "$downloads/kissfft" < "$work/tflm/third_party/kissfft/kissfft.patch"

gen="$work/tree"
(cd "$work/tflm" && python3 tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py "$gen")
git -C "$work/src_ruy" show "$RUY_REF:LICENSE" > "$gen/third_party/ruy/LICENSE"  # the generator copies no ruy LICENSE
cp -r "$gen"/. "$out"/
echo "TFLM tree of $TFLM_COMMIT written to $out"
