"""Paper 001's Table 3 (Polisi et al. 2025), copied verbatim from the paper, and its labels, so the grid's
table can show the paper's numbers beside ours.

Caveats: the two JaccardBCE-ADAM PostQ/Pruned rows duplicate DiceFocal-ADAM's (copy-paste
slips in the paper), and the Jaccard-BCE-RMSprop rows (6 decimals) look computed by another script;
the paper drew a new random test set per combination.
"""

LOSS_LABELS = {"bce": "BCE", "dice_bce": "DiceBCE", "dice_focal": "DiceFocal", "jaccard_bce": "JaccardBCE",
               "bce_jaccard": "JaccardBCE"}
OPTIMIZER_LABELS = {"adam": "ADAM", "nadam": "NADAM", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
VARIANT_LABELS = {"base": "Base", "ptq": "PostQ", "qat": "DuringTQ", "pruned": "Pruned"}

# (loss, optimizer) -> variant -> (accuracy, F1, Jaccard, recall, precision)
TABLE3 = {
    ("bce", "adam"): {"base": (0.9535, 0.9395, 0.8941, 0.9394, 0.9427), "ptq": (0.9531, 0.9415, 0.8962, 0.9376, 0.9508),
                      "qat": (0.9527, 0.9387, 0.8925, 0.9253, 0.9594), "pruned": (0.9542, 0.9444, 0.8992, 0.9480, 0.9446)},
    ("bce", "nadam"): {"base": (0.9496, 0.9359, 0.8877, 0.9348, 0.9403), "ptq": (0.9485, 0.9340, 0.8850, 0.9309, 0.9450),
                       "qat": (0.9496, 0.9331, 0.8849, 0.9215, 0.9553), "pruned": (0.9541, 0.9443, 0.8991, 0.9530, 0.9393)},
    ("bce", "rmsprop"): {"base": (0.9481, 0.9334, 0.8835, 0.9384, 0.9318),
                         "ptq": (0.9491, 0.9313, 0.8831, 0.9192, 0.9553),
                         "qat": (0.9493, 0.9338, 0.8849, 0.9284, 0.9475),
                         "pruned": (0.954, 0.9464, 0.9019, 0.9504, 0.9445)},
    ("bce", "adagrad"): {"base": (0.8259, 0.8019, 0.6842, 0.7810, 0.8459),
                         "ptq": (0.8229, 0.8085, 0.6901, 0.7786, 0.8600),
                         "qat": (0.8315, 0.8212, 0.7067, 0.8032, 0.8551),
                         "pruned": (0.8724, 0.8528, 0.7555, 0.8277, 0.8866)},
    ("dice_bce", "adam"): {"base": (0.9534, 0.9427, 0.8969, 0.9416, 0.9460),
                           "ptq": (0.9531, 0.9407, 0.8952, 0.9326, 0.9557),
                           "qat": (0.9532, 0.9399, 0.8949, 0.9376, 0.9498),
                           "pruned": (0.9546, 0.9446, 0.8994, 0.9477, 0.9439)},
    ("dice_focal", "adam"): {"base": (0.9533, 0.9448, 0.8992, 0.9489, 0.9434),
                             "ptq": (0.9531, 0.9404, 0.8949, 0.9422, 0.9445),
                             "qat": (0.9548, 0.9454, 0.9013, 0.9455, 0.9483),
                             "pruned": (0.9534, 0.9434, 0.8975, 0.9494, 0.9411)},
    ("jaccard_bce", "adam"): {"base": (0.9541, 0.9449, 0.8997, 0.9452, 0.9471),
                              "ptq": (0.9531, 0.9404, 0.8949, 0.9422, 0.9445),
                              "qat": (0.9544, 0.9431, 0.8987, 0.9409, 0.9506),
                              "pruned": (0.9535, 0.9434, 0.8975, 0.9494, 0.9411)},
    ("jaccard_bce", "rmsprop"): {"base": (0.947798, 0.957535, 0.897256, 0.957799, 0.956771),
                                 "ptq": (0.954473, 0.944771, 0.899828, 0.940101, 0.967221),
                                 "qat": (0.951916, 0.943059, 0.896906, 0.938187, 0.951274),
                                 "pruned": (0.9561, 0.9561, 0.9314, 0.9602, 0.9432)},
}


def paper_row(loss: str, optimizer: str, variant: str) -> tuple | None:
    """(accuracy, F1, Jaccard, recall, precision) of the paper for this cell, or None when it did not run it."""
    loss = {"bce_jaccard": "jaccard_bce"}.get(loss, loss)  # one loss, two names
    return TABLE3.get((loss, optimizer), {}).get(variant)
