"""Using a trained model: class probabilities for new inputs, and every layer's output for one."""
