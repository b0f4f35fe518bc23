// The tiled segmentation program of tiled_inference.cc: what a firmware's main loop calls.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgeseg {

// SegmentImage() results: 0 on success, else one of these (a MicroPrintf line says why).
constexpr int kSetupFailed = -1;  // wrong schema, operators, arena too small or unexpected tensor shapes
constexpr int kReadFailed = -2;   // ReadInputTile returned false
constexpr int kInvokeFailed = -3;

// Runs all kTilesY x kTilesX tiles: ReadInputTile for each tile's input, WriteOutputCore for its core.
int SegmentImage();

// Bytes of the tensor arena the interpreter uses (0 when it could not be set up).
size_t ArenaUsedBytes();

// Tile input and output hooks. The defaults (weak symbols) copy from g_input_image into g_output_mask;
// define your own to stream instead.
bool ReadInputTile(int y0, int x0, int8_t* dst);
void WriteOutputCore(int y0, int x0, int h, int w, const int8_t* src, int src_stride);

#ifndef EDGESEG_NO_FRAME_BUFFERS
// Full frames, int8 HWC: the quantized input image and the raw int8 model output (kClasses per pixel).
extern int8_t g_input_image[];
extern int8_t g_output_mask[];
#endif

}  // namespace edgeseg
