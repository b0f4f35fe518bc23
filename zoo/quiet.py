"""Quiet command lines: TensorFlow, LiteRT, the TFLite converter, tf2onnx, tfmot and OpenCV print start-up and
progress chatter that says nothing about the user's run. Every command calls `entry_point(main)`, which hides it
unless `--verbose` is given; errors are never hidden.

Three layers, because the chatter comes from three places:
- settings the libraries read: TF_CPP_MIN_LOG_LEVEL, OPENCV_LOG_LEVEL, GRPC_VERBOSITY (before they load);
- Python: warnings raised inside those libraries, and their `logging` loggers (tensorflow, absl, tf2onnx) at ERROR;
- native code writing to file descriptor 2 directly, where no setting exists (absl's "All log messages before
  absl::InitializeLog()" line and INFO/WARNING lines before TensorFlow reads TF_CPP_MIN_LOG_LEVEL, the converter's
  `fully_quantize: ...`, LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate"): descriptor 2 is routed
  through a filter process that drops lines matching `CHATTER` and passes every other line on. Python's own
  `sys.stderr` (our messages, tracebacks) keeps writing to the terminal directly. The filter is a separate
  process, so what native code writes just before a crash still reaches the terminal.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from pathlib import Path

VERBOSE_FLAG = "--verbose"
VERBOSE_HELP = "show TensorFlow, LiteRT, converter and OpenCV messages (hidden by default; errors always show)"

LIBRARIES = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "tf2onnx", "absl", "onnx",
             "onnxruntime", "ai_edge_litert", "google.protobuf", "h5py", "albumentations")
CHATTER = re.compile("|".join((
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] ",  # absl / glog INFO and WARNING lines (E and F lines pass)
    r"E\d{4} [\d:.]+\s+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit",  # no GPU here: CPU it is
    r"\d{4}-\d\d-\d\d [\d:.]+: [IW] ",  # TensorFlow's older INFO / WARNING format
    r"To enable the following instructions: .* rebuild TensorFlow",
    r"INFO: ",  # LiteRT: "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
    r"fully_quantize: \d",  # the TFLite converter's quantizer settings
    r"Estimated count of arithmetic ops",  # MLIR's op count after conversion
    r"\[ (WARN|INFO):",  # OpenCV
)))
NATIVE_LIBRARIES = ("tensorflow", "tf_keras", "ai_edge_litert", "tflite_micro", "tflite_runtime", "onnxruntime",
                    "tf2onnx", "tensorflow_model_optimization")  # libraries whose native code writes to descriptor 2
_state = {"filtered": False}


def wants_verbose(argv) -> bool:
    """`--verbose` (or an unambiguous prefix argparse would accept) is among the command's arguments."""
    return any(len(a) > 4 and VERBOSE_FLAG.startswith(a) for a in argv if a.startswith("--"))


def add_verbose_flag(parser) -> None:
    """--verbose on a command's parser (entry_point reads it before parsing)."""
    parser.add_argument(VERBOSE_FLAG, action="store_true", help=VERBOSE_HELP)


def entry_point(main, argv=None) -> int:
    """Run a command's `main()` with third-party chatter hidden, unless `--verbose` is in its arguments."""
    argv = sys.argv[1:] if argv is None else argv
    if not wants_verbose(argv):
        silence()
    elif "tensorflow" not in sys.modules and os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "2":
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # zoo's default: TensorFlow's INFO lines show too
    return main()


def silence(*, native: bool = True) -> None:
    """Hide the chatter of TensorFlow and co. for the rest of the process (idempotent). `native`: also filter
    file descriptor 2, from just before the first of `NATIVE_LIBRARIES` loads."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    pattern = r"(%s)(\.|$)" % "|".join(re.escape(m) for m in LIBRARIES)
    warnings.filterwarnings("ignore", module=pattern)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    for name in ("tensorflow", "absl", "tf2onnx", "h5py", "onnx", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "cv2" in sys.modules:  # already loaded: the environment variable came too late
        _opencv_errors_only(sys.modules["cv2"])
    if native and not any(isinstance(f, _FilterOnFirstImport) for f in sys.meta_path):
        if any(name in sys.modules for name in NATIVE_LIBRARIES):
            filter_native_stderr()
        else:  # --help and argument errors stay fast: the filter starts with the first chatty library
            sys.meta_path.insert(0, _FilterOnFirstImport())


class _FilterOnFirstImport:
    """An import hook that finds nothing itself: it starts `filter_native_stderr` just before the first of
    `NATIVE_LIBRARIES` loads, and does nothing after that."""

    def find_spec(self, fullname, path=None, target=None):
        if not _state["filtered"] and fullname.partition(".")[0] in NATIVE_LIBRARIES:
            filter_native_stderr()
        return None


def _opencv_errors_only(cv2) -> None:
    """OpenCV logs errors only (its `[ WARN:...]` lines are hidden)."""
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is not None and hasattr(log, "setLogLevel"):
        log.setLogLevel(log.LOG_LEVEL_ERROR)
    elif hasattr(cv2, "setLogLevel"):
        cv2.setLogLevel(2)


def filter_native_stderr() -> bool:
    """Route file descriptor 2 through a filter process that drops `CHATTER` lines; Python's `sys.stderr` keeps
    the original descriptor. False (nothing changed) where the descriptors cannot be set up."""
    if _state["filtered"]:
        return True
    import subprocess

    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
        code = "import sys; sys.path.insert(0, sys.argv[1]); from zoo.quiet import copy_filtered; copy_filtered(0, 1)"
        # Its own session: a Ctrl-C meant for the command does not stop the filter before it has passed
        # everything on; it ends when the last writer (the command and its children) has closed the pipe.
        subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).resolve().parents[1])], stdin=read_end,
                         stdout=original, stderr=subprocess.DEVNULL, start_new_session=True)
    except (OSError, ValueError, AttributeError):
        return False
    os.close(read_end)
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = os.fdopen(original, "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                           errors="backslashreplace")
    _state["filtered"] = True
    return True


def copy_filtered(read_fd: int, out_fd: int) -> None:
    """Copy lines from `read_fd` to `out_fd` until end of file, leaving out `CHATTER` lines."""
    pending = b""
    while chunk := os.read(read_fd, 65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        _write_kept(out_fd, lines)
    if pending:
        _write_kept(out_fd, [pending])


def _write_kept(out_fd: int, lines) -> None:
    kept = [line for line in lines if not CHATTER.match(line.decode("utf-8", "replace"))]
    if kept:
        data = b"\n".join(kept) + b"\n"
        while data:
            data = data[os.write(out_fd, data):]
