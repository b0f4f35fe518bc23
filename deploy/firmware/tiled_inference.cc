// Tiled segmentation with TensorFlow Lite for Microcontrollers: a TEMPLATE written by edgeseg
// (deploy/tiling/firmware.py) next to model_data.cc (the INT8 tile model) and tiling_config.h (its geometry).
//
// The model takes kTile x kTile int8 tiles. SegmentImage() runs every tile of a kImageHeight x
// kImageWidth image in one TFLM interpreter and keeps each tile's core, so the tensor arena only ever
// holds one tile's activations (kArenaBytes) instead of the whole image's. Tiles overlap by their halo;
// with the exact halo the stitched mask is bit-identical to the whole-image model's.
//
// Integrate: add this file, model_data.cc and the TFLM library to your build, then either keep the
// weak ReadInputTile / WriteOutputCore below (they use full-frame buffers g_input_image and g_output_mask)
// or define your own, e.g. reading rows from a camera, PSRAM or an SD card. Inputs are int8 HWC pixels,
// quantized with kInputScale / kInputZeroPoint after the same preprocessing as in training.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model_data.h"
#include "tiling_config.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace edgeseg {

// Full-frame buffers used by the default tile reader and writer (drop them when you stream).
int8_t g_input_image[kImageHeight * kImageWidth * kChannels];
int8_t g_output_mask[kImageHeight * kImageWidth * kClasses];

// Copy input rows [y0, y0 + kTile) x cols [x0, x0 + kTile) into dst (kTile x kTile x kChannels, HWC).
__attribute__((weak)) bool ReadInputTile(int y0, int x0, int8_t* dst) {
  for (int y = 0; y < kTile; ++y) {
    const int8_t* row = g_input_image + ((y0 + y) * kImageWidth + x0) * kChannels;
    std::memcpy(dst + y * kTile * kChannels, row, static_cast<size_t>(kTile) * kChannels);
  }
  return true;
}

// Store a core of h x w output pixels whose top-left is image pixel (y0, x0); src has a row stride
// of src_stride pixels (kClasses int8 values each).
__attribute__((weak)) void WriteOutputCore(int y0, int x0, int h, int w, const int8_t* src, int src_stride) {
  for (int y = 0; y < h; ++y) {
    std::memcpy(g_output_mask + ((y0 + y) * kImageWidth + x0) * kClasses, src + y * src_stride * kClasses,
                static_cast<size_t>(w) * kClasses);
  }
}

namespace {
alignas(16) uint8_t tensor_arena[kArenaBytes];
}  // namespace

// Runs all kTilesY x kTilesX tiles; returns 0 on success, a negative code otherwise.
int SegmentImage() {
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    MicroPrintf("model schema %d, TFLM expects %d", static_cast<int>(model->version()), TFLITE_SCHEMA_VERSION);
    return -1;
  }
  static tflite::MicroMutableOpResolver<kNumOps> resolver;
  static bool ops_added = false;
  if (!ops_added) {
#define EDGESEG_ADD_OP(name) \
  if (resolver.Add##name() != kTfLiteOk) return -2;
    EDGESEG_TFLM_OPS(EDGESEG_ADD_OP)
#undef EDGESEG_ADD_OP
    ops_added = true;
  }
  // One interpreter for every tile: tensors are planned once in the arena and reused.
  static tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, kArenaBytes);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    MicroPrintf("AllocateTensors failed: kArenaBytes=%d is too small on this target", kArenaBytes);
    return -3;
  }
  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  for (int ty = 0; ty < kTilesY; ++ty) {
    for (int tx = 0; tx < kTilesX; ++tx) {
      const int y0 = kTileStartY[ty], x0 = kTileStartX[tx];
      if (!ReadInputTile(y0, x0, input->data.int8)) return -4;
      if (interpreter.Invoke() != kTfLiteOk) return -5;
      // Keep only the core: image rows [kCoreStartY, kCoreEndY) sit at tile rows [kCoreStartY - y0, ...).
      const int cy = kCoreStartY[ty] - y0, cx = kCoreStartX[tx] - x0;
      WriteOutputCore(kCoreStartY[ty], kCoreStartX[tx], kCoreEndY[ty] - kCoreStartY[ty],
                      kCoreEndX[tx] - kCoreStartX[tx], output->data.int8 + (cy * kTile + cx) * kClasses, kTile);
    }
  }
  MicroPrintf("segmented %d tiles, arena used %d of %d bytes", kTilesY * kTilesX,
              static_cast<int>(interpreter.arena_used_bytes()), kArenaBytes);
  return 0;
}

}  // namespace edgeseg
