"""Scalars from TensorBoard event files, read with TensorBoard's own reader.

An optional extra (``reprostack[tensorboard]``): importing this module raises ImportError
without it, which the caller turns into a word in the record.
"""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

# 0 = keep every point: the default keeps a random sample of 10,000 scalars per tag.
_KEEP_ALL = {event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0}


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` of every event file in ``folder`` (not below it).

    Writers of the TF1 kind (tensorboardX, ``torch.utils.tensorboard``) store simple values;
    TF2's ``tf.summary.scalar`` stores 0-d tensors: both are read.
    """
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance=_KEEP_ALL)
    accumulator.Reload()
    tags = accumulator.Tags()
    out: dict[str, list[tuple[int, float]]] = {}
    for tag in tags.get(event_accumulator.SCALARS, []):
        out[tag] = [(event.step, float(event.value)) for event in accumulator.Scalars(tag)]
    for tag in tags.get(event_accumulator.TENSORS, []):
        points = []
        for event in accumulator.Tensors(tag):
            array = tensor_util.make_ndarray(event.tensor_proto)
            if array.size == 1 and array.dtype.kind in "fiu":
                points.append((event.step, float(array.reshape(()))))
        if points:
            out.setdefault(tag, points)
    return out
