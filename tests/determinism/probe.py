"""Print what a seeded run depends on: random, NumPy, torch (when installed), hash seed, env."""

import json
import os
import random

values = {"random": [random.random() for _ in range(3)], "hash": hash("reprostack")}
try:
    import numpy
except ImportError:
    values["numpy"] = "absent"
else:
    values["numpy"] = numpy.random.rand(3).tolist()
if os.environ.get("PROBE_TORCH") == "1":
    import torch

    values["torch"] = torch.rand(3).tolist()
    values["torch_deterministic"] = torch.are_deterministic_algorithms_enabled()
    values["cudnn"] = [torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic]
names = ("PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "TF_DETERMINISTIC_OPS",
         "TF_CUDNN_DETERMINISTIC")  # fmt: skip
values["env"] = {name: os.environ.get(name) for name in names}
print(json.dumps(values, sort_keys=True))
