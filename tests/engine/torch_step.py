"""One training pass of our network and of its PyTorch twin on the same batch, compared."""
import numpy as np
import pytest

from shared.cnn import softmax_cross_entropy


def assert_step_matches_torch(net, model, x, labels):
    """Logits, loss and input gradient agree; both sides are left holding their parameter gradients."""
    import torch

    logits = net.forward(x, training=True)
    loss, grad = softmax_cross_entropy(logits, labels)
    grad_input = net.backward(grad)

    x_torch = torch.from_numpy(x).requires_grad_(True)
    model.train()
    torch_logits = model(x_torch)
    torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch.from_numpy(labels))
    torch_loss.backward()

    np.testing.assert_allclose(logits, torch_logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    np.testing.assert_allclose(grad_input, x_torch.grad.numpy(), rtol=1e-9, atol=1e-12)
