"""``nst.backend.Backend`` implemented with PyTorch."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from nst import devices
from nst.arch import Arch, Preprocess
from nst.backend import Backend
from nst.backends.torch.arrays import to_numpy, to_tensor
from nst.backends.torch.batch import TorchBatchOptimization
from nst.backends.torch.losses import loss_terms
from nst.backends.torch.optim import TorchOptimization
from nst.backends.torch.targets import blended_targets
from nst.backends.torch.tiled import TiledEvaluation, tiled_statistics, tiled_targets
from nst.backends.torch.vgg import VGGFeatures
from nst.errors import NstError
from nst.masks import Guides
from nst.memory import HostMemoryModel
from nst.objective import LayerStatistics, LossSpec, Targets, statistics_of
from nst.options.run_settings import RunSettings
from nst.tiling import TilePlan, plan_tiles


class TorchNetwork:
    """The network on one device, or replicated on several (``modules[i]`` on
    ``torch_devices[i]``; the image, its targets and the optimiser live on the first)."""

    def __init__(self, modules: Sequence[VGGFeatures], devices: Sequence[torch.device]):
        self.modules, self.torch_devices = list(modules), list(devices)
        self.module, self.torch_device = self.modules[0], self.torch_devices[0]
        self.arch = self.module.arch
        self.layers = self.module.layers
        self.device = ",".join(str(device) for device in self.torch_devices)

    def features(self, image: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = self.module(to_tensor(image, self.torch_device))
        return {name: value[0].cpu().numpy() for name, value in out.items()}

    def tile_plan(self, shape: tuple[int, ...], tile: int) -> TilePlan:
        return plan_tiles(shape[0], shape[1], tile, self.arch, self.layers)

    def tile_for(self, shape: tuple[int, ...], tile: int | None) -> int | None:
        """``tile``; with several devices and none asked for, tiles small enough for every
        device to have one: the devices share an image by its tiles (``TiledEvaluation``)."""
        if tile is not None or len(self.torch_devices) == 1:
            return tile
        grid = 2 ** self.arch.downsampling(self.layers)
        return max(grid, -(-max(shape[:2]) // len(self.torch_devices)))

    def statistics(self, image: np.ndarray, tile: int | None = None) -> LayerStatistics:
        tile = self.tile_for(image.shape, tile)
        if tile is None:
            return statistics_of(self.features(image))
        return tiled_statistics(self.module, image, self.tile_plan(image.shape, tile), self.torch_device)


class TorchBackend(Backend[TorchNetwork]):
    name = "torch"
    framework_packages = ("torch",)
    # Fitted to the peak RSS of PyTorch CPU runs (docs/memory.md).
    host_memory = HostMemoryModel(bytes_per_pixel=2.5 * 1024)

    def set_host_threads(self, threads: int) -> None:
        torch.set_num_threads(threads)

    def is_out_of_memory(self, error: Exception) -> bool:
        # On CPU the allocator raises a plain RuntimeError; this is its wording (c10's alloc_cpu).
        return isinstance(error, torch.OutOfMemoryError) or (
            isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
        )

    def free_memory(self, net: TorchNetwork) -> int | None:
        if net.torch_device.type != "cuda":
            return None
        return torch.cuda.mem_get_info(net.torch_device)[0]

    def devices(self) -> list[str]:
        return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]

    def resolve_device(self, device: str) -> torch.device:
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        platform, index = devices.parse_device(device)
        if platform == "tpu":
            raise NstError("the torch backend does not run on TPUs; use --backend jax")
        if platform == "cpu":
            return torch.device("cpu")
        count = torch.cuda.device_count()
        if count == 0:
            raise devices.none_here(device, "torch", platform)
        if (index or 0) >= count:
            raise devices.index_out_of_range(device, count, platform)
        return torch.device("cuda" if index is None else f"cuda:{index}")

    def load_network(
        self,
        params: Mapping[str, np.ndarray],
        arch: Arch,
        preprocess: Preprocess,
        layers: Sequence[str],
        pooling: str,
        device: str = "auto",
    ) -> TorchNetwork:
        resolved = devices.resolve_devices(device, self.devices(), self.resolve_device)
        module = VGGFeatures(params, arch, preprocess, layers, pooling)
        replicas = [module] + [copy.deepcopy(module) for _ in resolved[1:]]  # copied on the host
        return TorchNetwork([replica.to(d) for replica, d in zip(replicas, resolved)], resolved)

    def prepare_targets(
        self,
        net: TorchNetwork,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        spec: LossSpec,
        guides: Guides | None = None,
        temporal: tuple[np.ndarray, np.ndarray] | None = None,
        tile: int | None = None,
    ) -> Targets:
        tile = net.tile_for(content.shape, tile)
        if tile is None:
            targets = blended_targets(net.module, content, styles, spec, guides, net.torch_device)
        else:
            plan_for = functools.partial(net.tile_plan, tile=tile)
            targets = tiled_targets(net.module, content, styles, spec, guides, plan_for, net.torch_device)
        if temporal is None:
            return targets
        previous, confidence = temporal
        return targets._replace(
            previous=to_tensor(previous, net.torch_device),
            confidence=torch.from_numpy(np.asarray(confidence, np.float32)).to(net.torch_device),
        )

    def loss_terms(
        self, net: TorchNetwork, targets: Targets, image: np.ndarray, spec: LossSpec, tile: int | None = None
    ) -> dict[str, float]:
        tile = net.tile_for(image.shape, tile)
        if tile is not None:
            terms, _ = self._tiled(net, targets, image, spec, tile).terms(
                to_tensor(image, net.torch_device), gradient=False
            )
            return {k: float(v) for k, v in terms.items()}
        with torch.no_grad():
            pixels = to_tensor(image, net.torch_device)
            terms = loss_terms(net.module(pixels), targets, pixels, spec)
        return {k: float(v) for k, v in terms.items()}

    def loss_gradient(
        self, net: TorchNetwork, targets: Targets, image: np.ndarray, spec: LossSpec, tile: int | None = None
    ) -> np.ndarray:
        tile = net.tile_for(image.shape, tile)
        if tile is not None:
            _, grad = self._tiled(net, targets, image, spec, tile).terms(to_tensor(image, net.torch_device))
            assert grad is not None
            return to_numpy(grad)
        pixels = to_tensor(image, net.torch_device).requires_grad_(True)
        loss_terms(net.module(pixels), targets, pixels, spec)["total"].backward()
        assert pixels.grad is not None
        return to_numpy(pixels.grad)

    def _tiled(
        self,
        net: TorchNetwork,
        targets: Targets,
        image: np.ndarray,
        spec: LossSpec,
        tile: int,
        autocast: bool = False,
    ) -> TiledEvaluation:
        return TiledEvaluation(net.modules, targets, spec, net.tile_plan(image.shape, tile), autocast)

    def start(
        self,
        net: TorchNetwork,
        targets: Targets,
        init: np.ndarray,
        spec: LossSpec,
        settings: RunSettings,
        tile: int | None = None,
    ) -> TorchOptimization:
        tiled = None
        tile = net.tile_for(init.shape, tile)
        if tile is not None:
            tiled = self._tiled(net, targets, init, spec, tile, autocast=settings.precision == "bf16")
        return TorchOptimization(net.module, targets, init, spec, settings, net.torch_device, tiled)

    def start_batch(
        self,
        net: TorchNetwork,
        targets: Sequence[Targets],
        inits: Sequence[np.ndarray],
        specs: Sequence[LossSpec],
        settings: RunSettings,
    ) -> TorchBatchOptimization:
        return TorchBatchOptimization(net.module, targets, inits, specs, settings, net.torch_device)
