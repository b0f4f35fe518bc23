"""zoo.tools.grid: paper 001's optimizer x loss x compression grid -- reports, the fixed split, resuming
after an interrupt, one-line errors. The default run trains one quick cell (base and pruned variants, no
INT8 conversion: ~10-50 s depending on the machine's load); `-m slow` runs 2 x 2 cells x all variants."""
import csv
import json
import subprocess
import sys

import pytest

from zoo.tools import grid, paper001

ROOT = grid.ROOT


def quick(tmp_path, *extra):
    cfg, args = grid.parse_args(["--quick", "--output", str(tmp_path / "grid"), *extra])
    return cfg, tmp_path / "grid"


class Interrupt:
    """A `log` that raises KeyboardInterrupt (as Ctrl-C would) after `after` finished variants."""

    def __init__(self, after=None):
        self.after, self.lines = after, []

    def __call__(self, line):
        self.lines.append(line)
        if self.after is not None and sum(": Dice " in ln for ln in self.lines) >= self.after:
            raise KeyboardInterrupt


def test_quick_grid_writes_table_and_resumes_after_interrupt(tmp_path):
    """One real cell (trained, pruned, scored), interrupted after its first variant and resumed."""
    cfg, out = quick(tmp_path, "--optimizers", "rmsprop", "--losses", "bce", "--variants", "base,pruned", "--epochs", "1")
    first = Interrupt(after=1)
    with pytest.raises(KeyboardInterrupt):
        grid.run_grid(cfg, out, log=first)
    cell = out / "cells" / "bce-rmsprop"
    assert (cell / "base.json").is_file() and not (cell / "pruned.json").exists()
    assert not (out / "table.md").exists()
    stamp = (cell / "base.json").stat().st_mtime_ns

    second = Interrupt()
    rows = grid.run_grid(cfg, out, log=second)
    # The finished variant is reused, not recomputed, and the model is not trained again.
    assert (cell / "base.json").stat().st_mtime_ns == stamp
    assert not any("training" in ln for ln in second.lines)
    base, pruned = rows
    assert (base["variant"], pruned["variant"]) == ("base", "pruned")

    # One fixed split, recorded: 16 sample images, 4 test, disjoint from training.
    split = json.loads((out / "split.json").read_text())
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (12, 0, 4)
    assert not set(split["train"]) & set(split["test"])
    for r in rows:
        with open(cell / f"{r['variant']}_per_image.csv", newline="") as f:
            assert sorted(p["image"] for p in csv.DictReader(f)) == sorted(split["test"])
        assert 0 <= r["image_mean_f1"] <= 1 and 0 <= r["pooled_accuracy"] <= 1 and r["image_mean_hd95"] >= 0
    # Polynomial 50 % -> 90 % reached by the end of fine-tuning; the zeros shrink the compressed weights.
    assert pruned["sparsity"] == pytest.approx(0.9, abs=0.01)
    assert pruned["weights_gzip_bytes"] < 0.5 * base["weights_gzip_bytes"]
    assert base["params"] > 0 and base["train_seconds"] > 0

    table = (out / "table.md").read_text()
    assert "| Combination | Model | Accuracy | F1 | Jaccard | Recall | Precision |" in table
    assert (f"| BCE-RMSprop | Base | {base['image_mean_accuracy']:.4f} | {base['image_mean_f1']:.4f} | "
            f"{base['image_mean_iou']:.4f} | {base['image_mean_recall']:.4f} | {base['image_mean_precision']:.4f} |") in table
    assert "0.9481 / 0.9334 / 0.8835" in table  # the paper's BCE-RMSprop Base beside ours
    with open(out / "results.csv", newline="") as f:
        assert [r["variant"] for r in csv.DictReader(f)] == ["base", "pruned"]
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Same command again: nothing left to do, nothing trained.
    third = Interrupt()
    assert grid.run_grid(cfg, out, log=third) == rows
    assert not any("training" in ln for ln in third.lines)


def test_reports_lay_out_a_two_by_two_grid(tmp_path):
    """Table 3 layout and the per-variant F1 grids for 2 losses x 2 optimizers x 4 variants (rows made here)."""
    cfg, _ = quick(tmp_path, "--optimizers", "adam,nadam", "--losses", "bce,dice_focal")
    rows = []
    for i, (loss, opt, variant) in enumerate((lo, o, v) for lo in cfg.losses for o in cfg.optimizers for v in grid.VARIANTS):
        rows.append({"loss": loss, "optimizer": opt, "variant": variant, "image_mean_hd95": 1.5,
                     **{f"image_mean_{k}": i / 100 for k in ("accuracy", "f1", "iou", "recall", "precision")}})
    grid.write_reports(rows, cfg, tmp_path)
    table = (tmp_path / "table.md").read_text()
    body = [ln for ln in table.splitlines() if ln.startswith("| BCE-") or ln.startswith("| DiceFocal-")]
    assert [ln.split(" | ")[:2] for ln in body[:5]] == [["| BCE-ADAM", "Base"], ["| BCE-ADAM", "PostQ"],
                                                       ["| BCE-ADAM", "DuringTQ"], ["| BCE-ADAM", "Pruned"],
                                                       ["| BCE-NADAM", "Base"]]
    assert len(body) == 16
    assert "| DiceFocal-NADAM | Pruned | 0.1500 | 0.1500 | 0.1500 | 0.1500 | 0.1500 | 1.50 | not run |" in table
    assert "| DiceFocal-ADAM | DuringTQ | 0.1000 |" in table and "0.9548 / 0.9454 / 0.9013 |" in table
    assert "| Loss \\ Optimizer | ADAM | NADAM |" in table
    assert "| DiceFocal | 0.0800 | 0.1200 |" in table  # the F1 grid of the Base variant
    with open(tmp_path / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 16
    assert (tmp_path / "chart.png").stat().st_size > 1000


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    cfg, out = quick(tmp_path, "--optimizers", "adam", "--losses", "bce")
    grid.prepare(cfg, out)
    changed, _ = quick(tmp_path, "--epochs", "3")
    with pytest.raises(grid.GridError, match="epochs differ") as err:
        grid.prepare(changed, out)
    assert "\n" not in str(err.value)
    grid.prepare(changed, out, overwrite=True)  # --overwrite starts again
    assert json.loads((out / "grid.json").read_text())["epochs"] == 3
    more, _ = quick(tmp_path, "--epochs", "3", "--optimizers", "adam,nadam")  # growing the grid is a resume
    grid.prepare(more, out)
    with pytest.raises(grid.GridError, match="not a grid folder"):
        grid.prepare(cfg, tmp_path, overwrite=True)  # never deletes a folder that is not a grid
    assert (out / "grid.json").is_file()


@pytest.mark.parametrize("args, message", [
    (["--optimizers", "adam,lion"], "unknown optimizer 'lion'"),
    (["--losses", "bce,lovasz"], "unknown loss 'lovasz'"),
    (["--variants", "base,int4"], "unknown variant 'int4'"),
    (["--model", "unett"], "unknown model"),
    (["--batch-size", "64"], "larger than the 12 training images"),
    (["--data", "/nonexistent"], "folder not found"),
])
def test_bad_settings_are_one_line_exit_2(tmp_path, capsys, args, message):
    assert grid.main(["--quick", "--output", str(tmp_path / "g"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_full_preset_needs_data_and_has_the_papers_settings(tmp_path, capsys):
    cfg, _ = grid.parse_args([])
    assert (cfg.model, cfg.image_size, cfg.epochs, cfg.batch_size, cfg.qat_batch_size) == ("unet", 256, 100, 8, 6)
    assert (cfg.lr, cfg.lr_drop_epoch, cfg.lr_after_drop) == (1e-4, 40, 1e-7)
    assert (cfg.prune_initial, cfg.prune_final, cfg.prune_frequency) == (0.5, 0.9, 100)
    assert cfg.optimizers == ("adam", "nadam", "rmsprop", "adagrad")
    assert cfg.losses == ("bce", "dice_bce", "dice_focal", "jaccard_bce")
    assert grid.main(["--output", str(tmp_path / "g")]) == 2
    assert "--data is required" in capsys.readouterr().err
    # Explicit flags override the preset.
    assert grid.parse_args(["--quick", "--epochs", "5"])[0].epochs == 5


def test_learning_rate_drops_after_epoch_40():
    cfg, _ = grid.parse_args([])
    schedule = grid.learning_rate(cfg, steps_per_epoch=82)
    assert float(schedule(40 * 82 - 1)) == pytest.approx(1e-4)
    assert float(schedule(40 * 82 + 1)) == pytest.approx(1e-7)
    assert grid.learning_rate(grid.parse_args(["--quick"])[0], 3) == 1e-3


def test_paper_table_lookup():
    assert paper001.paper_row("jaccard_bce", "rmsprop", "pruned")[:3] == (0.9561, 0.9561, 0.9314)
    assert paper001.paper_row("dice_focal", "nadam", "base") is None  # the paper did not run it
    assert paper001.paper_row("bce_jaccard", "adam", "base") == paper001.paper_row("jaccard_bce", "adam", "base")
    assert sum(len(v) for v in paper001.TABLE3.values()) == 32


@pytest.mark.slow
def test_quick_grid_command_two_by_two_all_variants(tmp_path):
    """`--quick` over 2 optimizers x 2 losses x all four variants, as a user runs it (~5-10 min)."""
    out = tmp_path / "grid"
    proc = subprocess.run([sys.executable, "-m", "zoo.tools.grid", "--quick", "--optimizers", "adam,rmsprop",
                           "--losses", "bce,dice_bce", "--output", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16
    assert {(r["loss"], r["optimizer"]) for r in rows} == {(lo, o) for lo in ("bce", "dice_bce") for o in ("adam", "rmsprop")}
    for r in rows:
        if r["variant"] in ("ptq", "qat"):
            assert int(r["int8_tflite_bytes"]) > 10_000
    table = (out / "table.md").read_text()
    assert table.count("| PostQ |") == 4 and table.count("| DuringTQ |") == 4 and table.count("| Pruned |") == 4
