// Host (PC) driver for tiled_inference.cc: reads a quantized image from a file, runs SegmentImage() and
// writes the raw model output and, optionally, the binary mask as a PGM. Not for microcontrollers.
//
//   edgeseg_host INPUT.raw OUTPUT.raw [MASK.pgm]
//
// INPUT.raw:  kImageHeight x kImageWidth x kChannels int8 values (HWC), already preprocessed and quantized
//             with kInputScale / kInputZeroPoint (tiling_config.h).
// OUTPUT.raw: kImageHeight x kImageWidth x kClasses int8 values, the model's raw output.
// MASK.pgm:   8-bit PGM, 255 where the first output channel exceeds kOutputThreshold, else 0.
#include <cstdio>
#include <vector>

#include "tensorflow/lite/micro/system_setup.h"
#include "tiled_inference.h"
#include "tiling_config.h"

namespace {

constexpr long kInputBytes = static_cast<long>(edgeseg::kImageHeight) * edgeseg::kImageWidth * edgeseg::kChannels;
constexpr long kOutputBytes = static_cast<long>(edgeseg::kImageHeight) * edgeseg::kImageWidth * edgeseg::kClasses;

bool ReadInput(const char* path) {
  FILE* f = std::fopen(path, "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "%s: cannot open the input file\n", path);
    return false;
  }
  const long n = static_cast<long>(std::fread(edgeseg::g_input_image, 1, kInputBytes, f));
  const bool longer = std::fgetc(f) != EOF;
  std::fclose(f);
  if (n != kInputBytes || longer) {
    std::fprintf(stderr, "%s: expected exactly %ld int8 values (%dx%dx%d HWC), got %s%ld\n", path, kInputBytes,
                 edgeseg::kImageHeight, edgeseg::kImageWidth, edgeseg::kChannels, longer ? "more than " : "", n);
    return false;
  }
  return true;
}

bool WriteFile(const char* path, const void* header, size_t header_len, const void* data, size_t len) {
  FILE* f = std::fopen(path, "wb");
  bool ok = f != nullptr && std::fwrite(header, 1, header_len, f) == header_len &&
            std::fwrite(data, 1, len, f) == len;
  if (f != nullptr) ok = std::fclose(f) == 0 && ok;
  if (!ok) std::fprintf(stderr, "%s: cannot write the output file\n", path);
  return ok;
}

bool WriteMask(const char* path) {
  std::vector<unsigned char> mask(static_cast<size_t>(edgeseg::kImageHeight) * edgeseg::kImageWidth);
  for (size_t i = 0; i < mask.size(); ++i) {
    mask[i] = edgeseg::g_output_mask[i * edgeseg::kClasses] > edgeseg::kOutputThreshold ? 255 : 0;
  }
  char header[64];
  const int n = std::snprintf(header, sizeof header, "P5\n%d %d\n255\n", edgeseg::kImageWidth, edgeseg::kImageHeight);
  return WriteFile(path, header, static_cast<size_t>(n), mask.data(), mask.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s INPUT.raw OUTPUT.raw [MASK.pgm]  (int8 HWC input of %dx%dx%d)\n", argv[0],
                 edgeseg::kImageHeight, edgeseg::kImageWidth, edgeseg::kChannels);
    return 2;
  }
  tflite::InitializeTarget();
  if (!ReadInput(argv[1])) return 1;
  const int status = edgeseg::SegmentImage();
  if (status != 0) {
    std::fprintf(stderr, "SegmentImage failed with code %d\n", status);
    return 1;
  }
  std::printf("segmented %d tiles of %dx%d, arena used %zu of %d bytes\n", edgeseg::kTilesY * edgeseg::kTilesX,
              edgeseg::kTileHeight, edgeseg::kTileWidth, edgeseg::ArenaUsedBytes(), edgeseg::kArenaBytes);
  if (!WriteFile(argv[2], "", 0, edgeseg::g_output_mask, static_cast<size_t>(kOutputBytes))) return 1;
  if (argc == 4 && !WriteMask(argv[3])) return 1;
  return 0;
}
