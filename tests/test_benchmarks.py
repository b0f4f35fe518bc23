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


def test_deploy_speed_toy(tmp_path):
    """The deploy command in a subprocess on a 32x32 run: every step it ran is a row, timed, with its memory."""
    from benchmarks import deploy_speed

    (headers, rows), = run_toy(deploy_speed, tmp_path)
    assert tuple(headers) == deploy_speed.HEADERS
    names = [r[0] for r in rows]
    assert names[0].startswith("outside the steps") and names[-1] == "whole command"
    assert {"data", "convert int8", "qat fine-tune", "convert qat", "tflm int8"} <= set(names)
    assert_positive(rows[-1:], [1, 3, 4])
    assert sum(float(r[1]) for r in rows[:-1]) == pytest.approx(float(rows[-1][1]), abs=2.0)  # rounded steps add up


def test_mcu_tiling_toy(tmp_path):
    """The current tiling step in a child process, the deploy command with --mcu-ram, and one model's INT8 file
    sizes, on a 32x32 run."""
    from benchmarks import mcu_tiling

    (_, steps), (_, commands), (_, sizes) = run_toy(mcu_tiling, tmp_path)
    assert [r[1] for r in steps] == ["new"]
    assert_positive(steps, [2, 4])  # wall s, peak RSS MB
    assert_positive(commands, [2, 4])
    assert sizes[0][0] == "quarter_multiresunet" and 0 < float(sizes[0][6]) < 1  # INT8 / float32 file size


@pytest.mark.slow
def test_histogram_collapse_toy(tmp_path):
    """train.py, the stage analysis and --apply as subprocesses on a 32x32 run (every kernel flagged by the toy's
    threshold): the stage table, then both models side by side, the suggested one smaller."""
    from benchmarks import histogram_collapse

    (headers, stages), (_, models_) = run_toy(histogram_collapse, tmp_path, "--runs", str(tmp_path / "runs"))
    assert headers[:4] == ["stage", "convs", "weights", "spread"] and {r[0] for r in stages} >= {"stage 1 (encoder)"}
    assert [r[1] for r in models_] == ["`half_multiresunet`", "`quarter_multiresunet`"]
    original, smaller = (int(r[2].replace(",", "")) for r in models_)
    assert 0 < smaller < original
    assert (tmp_path / "results" / "histogram_collapse_stages.png").is_file()


def test_bad_input_is_one_line(capsys):
    assert common.run_main(models.main, ["--models", "no_such_model"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown model 'no_such_model'") and "\n" not in err
    with pytest.raises(common.BenchmarkError, match="scale"):
        models.parse_models(["unet=2"], 1.0)


def test_cli_startup_toy(tmp_path):
    """`--help` and a bad flag of two commands in subprocesses: timed, no TensorFlow, no lines before ours."""
    from benchmarks import cli_startup

    (headers, rows), = run_toy(cli_startup, tmp_path)
    assert tuple(headers) == cli_startup.HEADERS and [r[0] for r in rows] == ["train.py", "python -m deploy"]
    assert_positive(rows, [1, 2, 3])
    assert all(r[4:] == ["no", "0", "0"] for r in rows), rows
