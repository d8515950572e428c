"""The PyTorch backend."""

from nst.backends.torch.backend import TorchBackend

BACKEND = TorchBackend()
