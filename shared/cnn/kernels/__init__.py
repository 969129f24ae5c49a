"""Compute kernels behind the layers: how a convolution is cut into GEMMs and cache-sized pieces."""
