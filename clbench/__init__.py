"""clbench: a continual-learning benchmark harness on PyTorch Lightning and Avalanche streams."""

__version__ = "0.1.0"
