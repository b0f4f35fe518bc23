"""The command lines: `--help` and argument errors answer at once without importing TensorFlow, bad input is
one line (exit 2) even once TensorFlow has loaded, third-party chatter is hidden unless `--verbose`, and an
`--mcu-ram` budget no tile can run in is refused with one line before anything is trained or written."""
import subprocess
import sys

import pytest

import train
from benchmarks.cli_startup import COMMANDS  # every entry point, run from the project root
from conftest import ROOT, SAMPLE_DATA
from zoo import quiet
from zoo.training import choices


def _run(args, timeout=120, cwd=ROOT):
    """(exit code, stdout, the command's own stderr lines, modules imported) of `python -X importtime ARGS`."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)
    own = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return proc.returncode, proc.stdout, own, modules


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_exits_0_without_tensorflow(name):
    code, out, err, modules = _run([*COMMANDS[name], "--help"])
    assert code == 0 and "usage:" in out and "--verbose" in out, (out[-500:], err)
    assert err == []
    assert not {"tensorflow", "tf_keras", "keras"} & modules, name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_bad_flag_exits_2_with_one_line_without_tensorflow(name):
    code, out, err, modules = _run([*COMMANDS[name], "--no-such-flag"])
    assert code == 2 and out == ""
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert "tensorflow" not in modules, name


def test_an_error_after_tensorflow_loaded_is_still_one_line():
    code, out, err, modules = _run([str(ROOT / "train.py"), "--model", "half_multiresunt"])
    assert "tensorflow" in modules  # the model registry loaded TensorFlow, and with it its start-up chatter
    assert code == 2 and err == [line for line in err if line.startswith("error: --model")] and len(err) == 1, err


def test_native_chatter_is_filtered_and_errors_pass():
    """Lines native code writes to descriptor 2 go through the filter; errors, tracebacks and our own lines pass,
    also when the process then aborts."""
    chatter = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
               "I0000 00:00:1796545861.123 24644 port.cc:153] oneDNN custom operations are on.",
               "I0000 00:00:1796545861.124 24644 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
               "E0000 00:00:1796545861.125 24644 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
               "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
               "fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8",
               "[ WARN:0@0.052] global loadsave.cpp:268 findDecoder imread_('x.png'): can't open/read file"]
    kept = ["E0000 00:00:1796545861.126 24644 kernel.cc:1] a real error", "F0000 fatal: Check failed: x == y",
            "Traceback (most recent call last):"]
    payload = ("\n".join(chatter[:4] + kept[:1] + chatter[4:] + kept[1:]) + "\n").encode()
    code = ("import importlib.util, os, sys\nfrom zoo import quiet\nquiet.silence()\n"
            "assert not quiet._state['filtered']  # no chatty library yet: --help and argument errors stay fast\n"
            "importlib.util.find_spec('ai_edge_litert')  # about to load one: the filter starts\n"
            "assert quiet._state['filtered']\n"
            f"os.write(2, {payload!r})\n"
            "print('error: ours', file=sys.stderr, flush=True)\nos.abort()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode != 0  # aborted
    lines = proc.stderr.splitlines()
    assert sorted(lines) == sorted(kept + ["error: ours"]), lines


def test_verbose_is_recognised_before_parsing():
    assert quiet.wants_verbose(["run", "--verbose"]) and quiet.wants_verbose(["--verb"])
    assert not quiet.wants_verbose(["--ve", "--quiet", "-v", "verbose", "--verbosity"])


def test_flag_names_match_what_the_modules_implement():
    from zoo.training import distribute, loop, losses, metrics, precision

    assert set(choices.LOSS_NAMES) == set(losses.LOSSES)
    assert set(choices.OPTIMIZER_NAMES) == set(loop.OPTIMIZERS)
    assert distribute.STRATEGIES == choices.STRATEGIES and precision.POLICIES == choices.POLICIES
    assert loop.LR_SCHEDULES == choices.LR_SCHEDULES and metrics.THRESHOLD == choices.THRESHOLD


# --- impossible --mcu-ram budgets ---------------------------------------------------------------

def test_train_refuses_an_impossible_mcu_budget_before_the_run_folder(tmp_path):
    out = tmp_path / "runs"
    code, stdout, err, _ = _run([str(ROOT / "train.py"), "--model", "quarter_multiresunet", "--image-size", "32",
                                 "--epochs", "1", "--output", str(out), "--mcu-ram", "64",
                                 "--export-dir", str(tmp_path / "export")], timeout=300)
    assert code == 2 and len(err) == 1, err  # was a segmentation fault (exit 139) in TFLite-Micro
    assert err[0].startswith("error: --mcu-ram 64 B is too small for quarter_multiresunet") and "needs more than" in err[0]
    assert not out.exists() and not (tmp_path / "export").exists()


def test_train_refuses_a_small_but_not_tiny_budget(tmp_path, capsys):
    out = tmp_path / "runs"
    assert train.main(["--model", "half_multiresunet", "--image-size", "64", "--epochs", "1", "--output", str(out),
                       "--mcu-ram", "8K", "--export-dir", str(tmp_path / "export")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--mcu-ram 8192 B is too small for half_multiresunet" in err[0], err
    floor = int(err[0].split("needs more than ")[1].split()[0])
    assert floor > 8192
    assert not out.exists() and not (tmp_path / "export").exists()


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    import zoo

    path = tmp_path_factory.mktemp("model") / "quarter_multiresunet.keras"
    zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3)).save(path)
    return path


@pytest.mark.parametrize("budget", ["64", "2K"])
def test_deploy_refuses_an_impossible_mcu_budget_before_converting(keras_file, tmp_path, budget):
    out = tmp_path / "deployed"
    code, stdout, err, _ = _run(["-m", "deploy", str(keras_file), "--data", str(SAMPLE_DATA), "--mcu-ram", budget,
                                 "--output", str(out)], timeout=300)
    assert code == 2 and len(err) == 1 and "Traceback" not in stdout, err
    assert err[0].startswith("error: --mcu-ram") and "too small for quarter_multiresunet" in err[0]
    assert not out.exists()


def test_a_budget_the_plan_search_cannot_meet_names_the_smallest_that_works(keras_file, tmp_path):
    """Above the layer floor but below the smallest tile's measured arena: the deployment stops with the
    measured need, and that budget does tile."""
    from deploy import pipeline
    from deploy.options import DeployOptions
    from deploy.tiling.arena import BudgetError

    with pytest.raises(BudgetError) as e:
        pipeline.deploy_model_file(keras_file, SAMPLE_DATA, DeployOptions(mcu_ram=6 * 1024), tmp_path / "a",
                                   log=lambda *_: None)
    line = str(e.value)
    assert "\n" not in line and "the smallest tile (6x6 px) needs" in line, line
    need = int(line.split("needs ")[1].split()[0])
    assert need > 6 * 1024
    from deploy import tflm
    from deploy.convert import strip
    from deploy.tiling.receptive_field import resize_tflite

    blob = (tmp_path / "a" / "quarter_multiresunet_32x32_int8.tflite").read_bytes()
    assert tflm.fits(resize_tflite(strip(blob, micro=True), (6, 6)), need)
    assert not tflm.fits(resize_tflite(strip(blob, micro=True), (6, 6)), 6 * 1024)
