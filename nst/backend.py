"""The contract between the core and a backend, and the lazy registry of backends.

The core owns images, options, weight files and the schedule; a backend owns arrays, the
network, the losses and the optimiser loop at one scale. Images cross the boundary as float32
numpy arrays, H x W x 3, RGB in [0, 1]; parameters as the canonical numpy state_dict
(``conv1_1.weight`` OIHW, ...). Registry entries are module paths imported on first use, so
both backends live in one process and a missing one fails with the extra to install.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from nst.arch import Arch, Preprocess
from nst.errors import NstError
from nst.masks import Guides
from nst.memory import HostMemoryModel
from nst.objective import LayerStatistics, LossSpec, Targets
from nst.options.run_settings import RunSettings


class Network(Protocol):
    """A frozen feature extractor cut after the deepest requested layer, on one device or, for
    a ``--device`` list, on several that share each image (``nst.devices``)."""

    arch: Arch
    layers: tuple[str, ...]
    device: str  # the device's name, e.g. 'cpu', 'cuda:0', 'gpu:0', or a list 'cuda:0,cuda:1'

    def features(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """The requested layers' activations for one H x W x 3 image, each C x H' x W'."""
        ...

    def statistics(self, image: np.ndarray, tile: int | None = None) -> LayerStatistics:
        """Every requested layer's ``LayerStatistics`` of one image; with ``tile``, computed
        tile by tile (``nst.tiling``, tiles of that many px), never holding a whole layer."""
        ...


class Optimization(Protocol):
    """A run in progress at one scale, on the network's device."""

    # Seconds spent compiling the step before the first ``advance`` (0 when nothing compiles).
    compile_seconds: float

    @property
    def evaluations(self) -> int:
        """Loss-and-gradient evaluations so far, up to the last ``advance``: one per Adam step,
        one or more per L-BFGS step (its line search's trial points). The core only reads it,
        so a backend may keep it as an attribute or compute it."""
        ...

    def advance(self, steps: int) -> dict[str, float]:
        """Run ``steps`` more steps; return the loss terms content, style, tv and total."""
        ...

    def image(self) -> np.ndarray:
        """The current image, H x W x 3 float32 (not clipped)."""
        ...


class BatchOptimization(Protocol):
    """Several same-shape images optimised together, each against its own targets with its
    own loss and optimiser state (for L-BFGS its own history and line search): image k follows
    the iterates of a ``start`` of image k alone, up to float rounding. The batch shares each
    network evaluation, which is where a device that one image leaves idle gains."""

    compile_seconds: float

    def advance(self, steps: int) -> list[dict[str, float]]:
        """Run ``steps`` more steps of every image; return each image's loss terms."""
        ...

    def images(self) -> list[np.ndarray]:
        """The current images, each H x W x 3 float32 (not clipped)."""
        ...


# A backend takes back only the networks it made, so its methods accept its own network type
# (a Protocol's parameters cannot narrow to it); the core holds a plain ``Backend``, of any network.
NetworkT = TypeVar("NetworkT", bound=Network)


class Backend(Protocol[NetworkT]):
    """What a backend implements; each backend class declares it as its base, with its network
    type (``Backend[TorchNetwork]``), and tests/test_backend_contract.py checks that it defines
    every member itself."""

    name: str
    framework_packages: tuple[str, ...]  # the packages ``nst info`` reports the versions of
    # Peak host memory of a CPU run (``nst.memory``), from which ``nst.plan`` tiles or refuses.
    host_memory: HostMemoryModel

    def set_host_threads(self, threads: int) -> None:
        """Use ``threads`` CPU threads in this process (several CPU workers share the cores)."""
        ...

    def devices(self) -> list[str]:
        """Devices this backend can run on here, e.g. ['cpu', 'cuda:0']."""
        ...

    def resolve_device(self, device: str) -> Any:
        """The framework's device for a ``--device`` value (``nst.devices``); NstError when
        there is no such device here."""
        ...

    def load_network(
        self,
        params: Mapping[str, np.ndarray],
        arch: Arch,
        preprocess: Preprocess,
        layers: Sequence[str],
        pooling: str,
        device: str,
    ) -> NetworkT:
        """The network cut after the deepest of ``layers``, its weights frozen on ``device``."""
        ...

    def prepare_targets(
        self,
        net: NetworkT,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        spec: LossSpec,
        guides: Guides | None = None,
        temporal: tuple[np.ndarray, np.ndarray] | None = None,
        tile: int | None = None,
    ) -> Targets:
        """Content features and the blended style statistics, kept on the device; with
        ``guides`` (``nst.masks``), one guided Gram per style image and the output's guides;
        with ``temporal``, a video frame's (warped previous output H x W x 3, confidence H x W).
        With ``tile``, computed tile by tile (``nst.tiling``); the content features and the
        output's guides are then kept per tile core (tiles x ... x core_l x core_l), for the
        ``loss_terms``, ``loss_gradient`` and ``start`` with the same ``tile``."""
        ...

    def loss_terms(
        self, net: NetworkT, targets: Targets, image: np.ndarray, spec: LossSpec, tile: int | None = None
    ) -> dict[str, float]:
        """content, style, tv and total loss of ``image``, in fp32; with ``tile``, tile by tile."""
        ...

    def loss_gradient(
        self, net: NetworkT, targets: Targets, image: np.ndarray, spec: LossSpec, tile: int | None = None
    ) -> np.ndarray:
        """d total / d image, H x W x 3, in fp32; with ``tile``, tile by tile."""
        ...

    def start(
        self,
        net: NetworkT,
        targets: Targets,
        init: np.ndarray,
        spec: LossSpec,
        settings: RunSettings,
        tile: int | None = None,
    ) -> Optimization:
        """An optimisation from ``init``; any compilation happens here, not in ``advance``.
        With ``tile`` (and targets prepared with it), every step evaluates tile by tile."""
        ...

    def start_batch(
        self,
        net: NetworkT,
        targets: Sequence[Targets],
        inits: Sequence[np.ndarray],
        specs: Sequence[LossSpec],
        settings: RunSettings,
    ) -> BatchOptimization:
        """``start`` for several images of one shape at once (see ``BatchOptimization``), each
        with its own objective: ``specs`` of one form (``LossSpec.unweighted``), their weights
        the images' own (under 'relative' every pair has its own). Any compilation happens
        here."""
        ...

    def free_memory(self, net: NetworkT) -> int | None:
        """Bytes free on the network's accelerator now; None on the CPU."""
        ...

    def is_out_of_memory(self, error: Exception) -> bool:
        """Whether ``error`` is the framework saying a device (or host) allocation failed."""
        ...


# name -> (module path, pip extra that provides it)
REGISTRY: dict[str, tuple[str, str]] = {
    "torch": ("nst.backends.torch", "torch"),
    "jax": ("nst.backends.jax", "jax"),
}
DEFAULT_BACKEND = "torch"
_loaded: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    if name not in REGISTRY:
        raise NstError(f"unknown backend {name!r}; choose from {', '.join(REGISTRY)}")
    if name not in _loaded:
        module_path, extra = REGISTRY[name]
        try:
            module = importlib.import_module(module_path)
        except ImportError as exc:
            raise NstError(
                f"backend {name!r} is not installed ({exc.name or exc}); "
                f"install it with: pip install 'nst[{extra}]'"
            ) from None
        _loaded[name] = module.BACKEND
    return _loaded[name]


def resolve_backend(name: str | None = None) -> Backend:
    """API argument > CLI --backend (passed here as ``name``) > $NST_BACKEND > default."""
    return get_backend(name or os.environ.get("NST_BACKEND") or DEFAULT_BACKEND)
