"""The work of one shard: forward, loss and backward over a slice of the batch.

Every shard computes the gradient of the *whole batch's* mean loss restricted to its own images
(the loss gradient is scaled by images / batch size), so the shards' gradients simply add up to the
full-batch gradient. Like the in-process Trainer, a shard is run in micro-batches of
``MICRO_BATCH`` images to keep the working set in cache, except with batchnorm, whose statistics
must see the whole shard.
"""
from __future__ import annotations

import numpy as np

from shared.cnn import softmax_cross_entropy
from shared.cnn.training import MICRO_BATCH, count_correct


def uses_batch_statistics(net) -> bool:
    return any(layer.plan.type == "batchnorm" for layer in net.layers)


def shard_gradient(net, x: np.ndarray, y: np.ndarray, first_sample_id: int, batch_size: int,
                   out: dict[str, np.ndarray]) -> tuple[float, int]:
    """Write this shard's share of the batch gradient into ``out`` (arrays shaped like
    ``net.grads``); return (summed loss, correct predictions) over the shard."""
    count = len(y)
    size = count if uses_batch_statistics(net) else MICRO_BATCH
    loss_sum, correct = 0.0, 0
    for start in range(0, count, size):
        stop = min(start + size, count)
        ids = np.arange(first_sample_id + start, first_sample_id + stop)
        logits = net.forward(x[start:stop], training=True, sample_ids=ids)
        loss_mean, grad_logits = softmax_cross_entropy(logits, y[start:stop])
        grad_logits *= grad_logits.dtype.type((stop - start) / batch_size)
        net.backward(grad_logits, need_input_grad=False)
        for name, grad in net.grads.items():
            if start == 0:
                np.copyto(out[name], grad)
            else:
                out[name] += grad
        loss_sum += loss_mean * (stop - start)
        correct += count_correct(logits, y[start:stop])
    return loss_sum, correct
