"""The work of one shard: forward, loss and backward over a slice of the batch.

Every shard computes the gradient of the *whole batch's* mean loss restricted to its own images
(the loss gradient is scaled by shard size / batch size), so the shards' gradients simply add up
to the full-batch gradient.
"""
from __future__ import annotations

import numpy as np

from shared.cnn import softmax_cross_entropy


def shard_gradient(net, x: np.ndarray, y: np.ndarray, sample_ids: np.ndarray, batch_size: int
                   ) -> tuple[float, int]:
    """Fill ``net.grads`` with this shard's share; return (summed loss, correct predictions)."""
    logits = net.forward(x, training=True, sample_ids=sample_ids)
    loss_mean, grad_logits = softmax_cross_entropy(logits, y)
    count = len(y)
    net.backward(grad_logits * grad_logits.dtype.type(count / batch_size), need_input_grad=False)
    correct = int(np.count_nonzero(logits.argmax(axis=1) == y))
    return float(loss_mean) * count, correct
