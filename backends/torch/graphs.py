"""Work of a fixed shape captured once as a CUDA graph and replayed: the PyTorch backend's
evaluation (loss terms and gradient at an image) and L-BFGS's direction.

An eager evaluation launches each of the network's kernels, forward and backward, from Python,
hundreds of launches, one of the causes of PyTorch's slower GPU step that docs/performance.md
names; L-BFGS's two-loop recursion launches a few per history pair. A replay launches them all
at once. The image's shape is fixed during a run, so one capture serves every call.
``RunSettings.cuda_graphs`` turns it off.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Generic, TypeVar

import torch

Output = TypeVar("Output")

# Eager calls on a side stream before the capture: cuDNN's autotuner and the caching allocator
# settle there, as torch.cuda.graphs' documentation asks.
WARMUP_CALLS = 3


class Graphed(Generic[Output]):
    """``function`` of tensors shaped as ``example``, replayed from one capture. ``function``
    must read nothing but its argument and tensors that stay where they are; answers are
    copies, since the next replay overwrites the captured outputs."""

    def __init__(self, function: Callable[[torch.Tensor], Output], example: torch.Tensor):
        self.input = example.detach().clone()
        side = torch.cuda.Stream(self.input.device)
        side.wait_stream(torch.cuda.current_stream(self.input.device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_CALLS):
                function(self.input)
        torch.cuda.current_stream(self.input.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = function(self.input)

    def __call__(self, value: torch.Tensor) -> Output:
        self.input.copy_(value)
        self.graph.replay()
        return copied(self.output)


def copied(output):
    """A tensor, or a dict or tuple of them, cloned."""
    if isinstance(output, torch.Tensor):
        return output.clone()
    if isinstance(output, dict):
        return {name: copied(value) for name, value in output.items()}
    return tuple(copied(value) for value in output)


def graphed_or_eager(
    function: Callable[[torch.Tensor], Output], example: torch.Tensor
) -> Callable[[torch.Tensor], Output]:
    """A ``Graphed`` ``function``, or ``function`` itself where the capture fails (one
    warning): a run is never lost to a graph."""
    try:
        return Graphed(function, example)
    except RuntimeError as error:
        message = str(error).strip()
        first_line = message.splitlines()[0] if message else type(error).__name__
        warnings.warn(f"CUDA graph capture failed ({first_line}); the steps run eagerly", stacklevel=2)
        return function
