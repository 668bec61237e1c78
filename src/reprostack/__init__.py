"""reprostack: make an ML experiment reproducible end to end."""

# The metrics helper is standard-library only: importing reprostack in a training script
# stays cheap (no yaml, click or docker).
from reprostack.experiments.logger import log_metrics

__version__ = "0.1.0"

__all__ = ["__version__", "log_metrics"]
