// Tiled segmentation with TensorFlow Lite for Microcontrollers, written by edgeseg deploy next to
// model_data.cc (the INT8 model), model_ops.h (its op resolver) and tiling_config.h (its geometry).
//
// The model takes kTileHeight x kTileWidth int8 tiles. SegmentImage() runs every tile of a kImageHeight x
// kImageWidth image in one TFLM interpreter and keeps each tile's core, so the tensor arena only ever holds
// one tile's activations (kArenaBytes) instead of the whole image's. Tiles overlap by their halo; with the
// exact halo the stitched mask is bit-identical to the whole-image model's. A whole-image export is the same
// program with a single tile.
//
// Integrate: add this file, model_data.cc and the TFLM library to your build, then either keep the weak
// ReadInputTile / WriteOutputCore below (they use the full-frame buffers g_input_image and g_output_mask) or
// define your own, e.g. reading rows from a camera, PSRAM or an SD card (and build with
// -DEDGESEG_NO_FRAME_BUFFERS to drop the two buffers). Inputs are int8 HWC pixels, quantized with kInputScale /
// kInputZeroPoint after the same preprocessing as in training. deploy/firmware/host_main.cc runs it on a PC.
#include "tiled_inference.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model_data.h"
#include "model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tiling_config.h"

namespace edgeseg {

#ifndef EDGESEG_NO_FRAME_BUFFERS
// Full-frame buffers used by the default tile reader and writer.
int8_t g_input_image[kImageHeight * kImageWidth * kChannels];
int8_t g_output_mask[kImageHeight * kImageWidth * kClasses];

// Copy input rows [y0, y0 + kTileHeight) x cols [x0, x0 + kTileWidth) into dst (HWC, kChannels per pixel).
__attribute__((weak)) bool ReadInputTile(int y0, int x0, int8_t* dst) {
  for (int y = 0; y < kTileHeight; ++y) {
    const int8_t* row = g_input_image + ((y0 + y) * kImageWidth + x0) * kChannels;
    std::memcpy(dst + y * kTileWidth * kChannels, row, static_cast<size_t>(kTileWidth) * kChannels);
  }
  return true;
}

// Store a core of h x w output pixels whose top-left is image pixel (y0, x0); src has a row stride of
// src_stride pixels (kClasses int8 values each).
__attribute__((weak)) void WriteOutputCore(int y0, int x0, int h, int w, const int8_t* src, int src_stride) {
  for (int y = 0; y < h; ++y) {
    std::memcpy(g_output_mask + ((y0 + y) * kImageWidth + x0) * kClasses, src + y * src_stride * kClasses,
                static_cast<size_t>(w) * kClasses);
  }
}
#endif  // EDGESEG_NO_FRAME_BUFFERS

namespace {
alignas(16) uint8_t tensor_arena[kArenaBytes];

// The interpreter, built on first use; nullptr (after one logged line) when the model cannot run.
tflite::MicroInterpreter* Interpreter() {
  static tflite::MicroInterpreter* interpreter = nullptr;
  static bool tried = false;
  if (tried) return interpreter;
  tried = true;
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    MicroPrintf("model schema %d, TFLM expects %d", static_cast<int>(model->version()), TFLITE_SCHEMA_VERSION);
    return nullptr;
  }
  static ModelOpResolver resolver;
  if (AddModelOps(resolver) != kTfLiteOk) {
    MicroPrintf("could not register the model's %d operators", kNumOps);
    return nullptr;
  }
  // One interpreter for every tile: tensors are planned once in the arena and reused.
  static tflite::MicroInterpreter instance(model, resolver, tensor_arena, kArenaBytes);
  if (instance.AllocateTensors() != kTfLiteOk) {
    MicroPrintf("AllocateTensors failed: kArenaBytes=%d is too small on this target", kArenaBytes);
    return nullptr;
  }
  const TfLiteTensor* in = instance.input(0);
  const TfLiteTensor* out = instance.output(0);
  if (in->type != kTfLiteInt8 || out->type != kTfLiteInt8 ||
      in->bytes != static_cast<size_t>(kTileHeight) * kTileWidth * kChannels ||
      out->bytes != static_cast<size_t>(kTileHeight) * kTileWidth * kClasses) {
    MicroPrintf("model input/output are not int8 %dx%dx%d / %dx%dx%d as tiling_config.h says", kTileHeight,
                kTileWidth, kChannels, kTileHeight, kTileWidth, kClasses);
    return nullptr;
  }
  interpreter = &instance;
  return interpreter;
}
}  // namespace

size_t ArenaUsedBytes() {
  tflite::MicroInterpreter* interpreter = Interpreter();
  return interpreter ? interpreter->arena_used_bytes() : 0;
}

int SegmentImage() {
  tflite::MicroInterpreter* interpreter = Interpreter();
  if (interpreter == nullptr) return kSetupFailed;
  int8_t* input = interpreter->input(0)->data.int8;
  const int8_t* output = interpreter->output(0)->data.int8;
  for (int ty = 0; ty < kTilesY; ++ty) {
    for (int tx = 0; tx < kTilesX; ++tx) {
      const int y0 = kTileStartY[ty], x0 = kTileStartX[tx];
      if (!ReadInputTile(y0, x0, input)) return kReadFailed;
      if (interpreter->Invoke() != kTfLiteOk) return kInvokeFailed;
      // Keep only the core: image rows [kCoreStartY, kCoreEndY) sit at tile rows [kCoreStartY - y0, ...).
      const int cy = kCoreStartY[ty] - y0, cx = kCoreStartX[tx] - x0;
      WriteOutputCore(kCoreStartY[ty], kCoreStartX[tx], kCoreEndY[ty] - kCoreStartY[ty],
                      kCoreEndX[tx] - kCoreStartX[tx], output + (cy * kTileWidth + cx) * kClasses, kTileWidth);
    }
  }
  return 0;
}

}  // namespace edgeseg
