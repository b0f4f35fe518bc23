"""Each benchmark at toy size (tiny model, 32x32, 1-2 steps, the bundled sample), so none can rot: the table
has the expected columns and rows with finite positive timings, the PNG loads, RESULTS.md lists it."""
import math

import matplotlib.image
import pytest

from benchmarks import accuracy, common, input_pipeline, models, scaling


def read_tables(md_path):
    """Every Markdown table in the file as (header cells, list of row cells)."""
    tables, current = [], None
    for line in md_path.read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if current is None:
                current = (cells, [])
                tables.append(current)
            else:
                current[1].append(cells)
        elif not line.startswith("|---"):
            current = None
    return tables


def assert_positive(rows, columns):
    for row in rows:
        for c in columns:
            v = float(row[c])
            assert math.isfinite(v) and v > 0, (row, c)


def run_toy(module, tmp_path, *extra):
    out = tmp_path / "results"
    assert module.main(["--toy", "--output", str(out), *extra]) == 0
    md, png = out / f"{module.NAME}.md", out / f"{module.NAME}.png"
    assert md.is_file() and png.is_file()
    assert matplotlib.image.imread(str(png)).shape[0] > 100
    index = (tmp_path / "RESULTS.md").read_text()
    assert f"## {md.read_text().splitlines()[0][3:]}" in index and "TensorFlow" in index
    assert "**Reading:**" in md.read_text()
    return read_tables(md)


def test_models_toy(tmp_path):
    (headers, rows), = run_toy(models, tmp_path)
    assert tuple(headers) == models.HEADERS
    assert [r[0] for r in rows] == ["quarter_multiresunet"] and rows[0][8] == "32x32x3"
    assert_positive(rows, [2, 4, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17])  # TFLM arena found for the tiny file
    assert float(rows[0][16]) < float(rows[0][15])  # INT8 file smaller than float


def test_input_pipeline_toy(tmp_path):
    (headers, rows), = run_toy(input_pipeline, tmp_path)
    assert tuple(headers) == input_pipeline.HEADERS
    assert len(rows) == 3 and rows[0][0].startswith("in-memory") and float(rows[0][2]) == 1
    assert_positive(rows, [1, 2, 3, 4])


def test_accuracy_toy(tmp_path):
    (h1, datasets), (h2, folds) = run_toy(accuracy, tmp_path)
    assert tuple(h1) == accuracy.DATASET_HEADERS and tuple(h2) == accuracy.FOLD_HEADERS
    assert [r[0] for r in datasets] == ["sample_microplastics"]
    assert [r[0] for r in folds] == ["fold 0", "fold 1", "mean"]
    assert_positive(datasets, [11, 12, 13])
    for row in datasets + folds:
        assert all(0 <= float(v) <= 1 for v in row[3:9])
    assert float(datasets[0][12]) < float(datasets[0][11])  # INT8 smaller than float


def test_scaling_toy(tmp_path):
    (headers, rows), = run_toy(scaling, tmp_path)
    assert tuple(headers) == scaling.HEADERS
    assert [(r[0], r[1]) for r in rows] == [("32x32", "1"), ("32x32", "2"), ("64x64", "1"), ("64x64", "2")]
    assert_positive(rows, range(2, 9))


def test_bad_input_is_one_line(capsys):
    assert common.run_main(models.main, ["--models", "no_such_model"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown model 'no_such_model'") and "\n" not in err
    with pytest.raises(common.BenchmarkError, match="scale"):
        models.parse_models(["unet=2"], 1.0)
