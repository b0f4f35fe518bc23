"""The names training flags accept (`--loss`, `--optimizer`, `--lr-schedule`, `--strategy`,
`--mixed-precision`) and the score threshold, in a module without TensorFlow so that the command lines parse their flags and answer
`--help` before TensorFlow loads. The modules that implement them (losses.py, loop.py, distribute.py,
precision.py) use these names; tests/test_cli.py checks that they match."""

LOSS_NAMES = ("bce", "weighted_bce", "dice", "jaccard", "bce_dice", "dice_bce", "bce_jaccard", "jaccard_bce", "focal",
              "dice_focal", "tversky", "focal_tversky", "exp", "adapt_exp")
OPTIMIZER_NAMES = ("adam", "sgd", "rmsprop", "adagrad", "adadelta", "adamax", "nadam")
LR_SCHEDULES = ("constant", "exponential", "cosine")
STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")
POLICIES = ("auto", "mixed_float16", "mixed_bfloat16")
THRESHOLD = 0.5  # foreground where the probability exceeds this: training metrics, reports, predict.py
