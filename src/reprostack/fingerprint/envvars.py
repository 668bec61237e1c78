"""The allow-listed environment variables that change what ML code does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reprostack.redact import redact_value

# Names recorded exactly, and prefixes recorded whole: threading, determinism, device
# selection and library switches. Anything else (HOME, user tokens, ...) is not recorded.
ALLOWED_NAMES = frozenset(
    {
        "CUDA_VISIBLE_DEVICES",
        "CUDA_LAUNCH_BLOCKING",
        "CUDA_DEVICE_ORDER",
        "CUBLAS_WORKSPACE_CONFIG",
        "PYTHONHASHSEED",
        "PYTHONOPTIMIZE",
        "PYTHONPATH",
        "LD_LIBRARY_PATH",
        "LD_PRELOAD",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "CUDA_VERSION",
        "NV_CUDNN_VERSION",
        "CUDNN_VERSION",
        "LANG",
        "LC_ALL",
        "TZ",
    }
)
ALLOWED_PREFIXES = (
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "NUMEXPR_",
    "NCCL_",
    "NVIDIA_",
    "TORCH_",
    "PYTORCH_",
    "TF_",
    "XLA_",
    "JAX_",
    "HF_",
    "TRANSFORMERS_",
    "CUDNN_",
    "REPRO_",
)

# Per-run values already in run.yaml / the container block; recording them in env would make
# every two runs differ.
PER_RUN_NAMES = frozenset(
    {
        "REPRO_RUN_ID", "REPRO_RUN_DIR", "REPRO_OUTPUT_DIR", "REPRO_IMAGE_ID", "REPRO_IMAGE_TAG",
        "REPRO_IMAGE_DIGEST", "REPRO_BASE_IMAGE", "REPRO_DETERMINISM_REPORT",
    }
)  # fmt: skip


def read_env(
    environ: Mapping[str, str], extra_names: Iterable[str] = (), never: Iterable[str] = ()
) -> dict[str, str]:
    """The allow-listed variables of ``environ`` (plus ``extra_names``), secrets redacted.

    ``never`` names variables that must not appear at all (``run.pass_env``: passed to the
    run, never recorded).
    """
    extra = set(extra_names)
    skip = set(never) | PER_RUN_NAMES
    recorded = {}
    for name, value in environ.items():
        if name in skip:
            continue
        if name in ALLOWED_NAMES or name in extra or name.startswith(ALLOWED_PREFIXES):
            recorded[name] = redact_value(name, value)
    return dict(sorted(recorded.items()))
