"""What the API needs to run trained models in its own process: limits, a model cache, input parsing."""
