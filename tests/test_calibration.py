"""INT8 calibration in worker processes (deploy/calibration.py): exact shard merging, the converter's own
statistics up to float rounding, and failures as one line."""
import numpy as np
import pytest

import zoo
from deploy import calibration, convert


@pytest.fixture(scope="module")
def model_and_images():
    model = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3))
    rng = np.random.default_rng(0)
    return model, [rng.random((1, 32, 32, 3), dtype=np.float32) for _ in range(5)]


def _tensors(blob):
    from ai_edge_litert.tools import flatbuffer_utils as fb

    model = fb.read_model_from_bytearray(bytearray(blob))
    return model, model.subgraphs[0].tensors


def _ranges(tensors):
    return [(list(t.quantization.min), list(t.quantization.max)) for t in tensors
            if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min)]


def _data(model, tensor) -> bytes:
    data = model.buffers[tensor.buffer].data
    return b"" if data is None else bytes(data)


def test_shards_merge_to_the_statistics_of_all_images(model_and_images):
    model, images = model_and_images
    float_model = convert.to_tflite(model, "fp32")
    _, whole = _tensors(calibration.calibrate(float_model, images, workers=1))
    _, merged = _tensors(calibration.calibrate(float_model, images, workers=3))  # shards of 2, 2 and 1 images
    ranges = _ranges(whole)
    assert len(ranges) > 20
    assert _ranges(merged) == ranges


def test_any_number_of_workers_gives_the_same_file(model_and_images):
    model, images = model_and_images
    one = convert.to_tflite(model, "int8", images, calibration_workers=1)
    assert convert.to_tflite(model, "int8", images, calibration_workers=2) == one
    assert convert.start_tflite(model, "int8", images, calibration_workers=2).result() == one


def test_same_model_as_the_in_process_converter_up_to_float_rounding(model_and_images):
    model, images = model_and_images
    theirs, ours = convert.to_tflite(model, "int8", images), convert.to_tflite(model, "int8", images, calibration_workers=2)
    (m_theirs, t_theirs), (m_ours, t_ours) = _tensors(theirs), _tensors(ours)
    assert [op.opcodeIndex for op in m_theirs.subgraphs[0].operators] == [op.opcodeIndex for op in m_ours.subgraphs[0].operators]
    assert len(t_theirs) == len(t_ours)
    for a, b in zip(t_theirs, t_ours):
        assert list(a.shape) == list(b.shape) and a.type == b.type
        if a.quantization is not None and a.quantization.scale is not None:
            np.testing.assert_allclose(b.quantization.scale, a.quantization.scale, rtol=1e-5)  # measured <= 4e-7
            np.testing.assert_array_equal(b.quantization.zeroPoint, a.quantization.zeroPoint)
        if a.type == 9:  # int8 weights: identical
            assert _data(m_ours, b) == _data(m_theirs, a)
    lite_theirs, lite_ours = convert.LiteRTModel(theirs), convert.LiteRTModel(ours)
    for x in images:
        diff = lite_theirs.invoke_raw(lite_theirs.quantize_input(x)).astype(int) - lite_ours.invoke_raw(lite_ours.quantize_input(x)).astype(int)
        assert np.mean(diff == 0) > 0.95


def test_a_failing_worker_is_one_line(model_and_images):
    _, images = model_and_images
    with pytest.raises(calibration.CalibrationError, match="INT8 calibration worker failed: ") as e:
        calibration.calibrate(b"not a model", images, workers=2)
    assert "\n" not in str(e.value)
