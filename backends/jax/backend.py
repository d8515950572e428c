"""``nst.backend.Backend`` implemented with JAX, Flax (linen) and optax."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import jax
import numpy as np

from nst import devices
from nst.arch import Arch, Preprocess
from nst.backend import Backend
from nst.backends.jax import sharding
from nst.backends.jax.compile_cache import enable_compilation_cache
from nst.backends.jax.losses import objective, traced_weights
from nst.backends.jax.optim import JaxBatchOptimization, JaxOptimization
from nst.backends.jax.targets import blended_targets
from nst.backends.jax.tiled import tiled_objective, tiled_statistics, tiled_targets
from nst.backends.jax.vgg import VGGFeatures, apply_features, flax_params
from nst.masks import Guides
from nst.memory import HostMemoryModel
from nst.objective import LayerStatistics, LossSpec, Targets, statistics_of
from nst.options.run_settings import RunSettings
from nst.tiling import TilePlan, plan_tiles

# The module and the objective's form (``LossSpec.unweighted``) are hashable values, so each
# jitted helper compiles once per (network, form, image shape) and is reused across calls and
# across images whose weights differ.
_features = jax.jit(apply_features, static_argnums=0)
_targets = jax.jit(blended_targets, static_argnums=(0, 1))
_terms = jax.jit(objective, static_argnums=(0, 1))
_gradient = jax.jit(jax.grad(lambda *args: objective(*args)["total"], argnums=5), static_argnums=(0, 1))
# The tile plan too: once per (network, form, tile plan).
_tiled_terms = jax.jit(tiled_objective, static_argnums=(0, 1, 2))
_tiled_gradient = jax.jit(
    jax.grad(lambda *args: tiled_objective(*args)["total"], argnums=6), static_argnums=(0, 1, 2)
)


class JaxNetwork:
    """The network on one device, or on a mesh of several (``nst.backends.jax.sharding``):
    then ``placement`` replicates what it puts on the devices, and the module splits every
    activation by rows."""

    def __init__(self, module: VGGFeatures, params, devices: Sequence[jax.Device]):
        self.module = module
        self.arch = module.arch
        self.layers = module.layers
        self.jax_device = devices[0]
        self.placement: sharding.Placement = (
            devices[0] if module.mesh is None else sharding.replicated(module.mesh)
        )
        self.params = jax.device_put(params, self.placement)
        self.device = ",".join(device_name(device) for device in devices)

    def to_device(self, image: np.ndarray) -> jax.Array:
        return jax.device_put(np.asarray(image, np.float32), self.placement)

    def features(self, image: np.ndarray) -> dict[str, np.ndarray]:
        out = _features(self.module, self.params, self.to_device(image))
        # H x W x C inside -> C x H x W, the torch backend's layout.
        return {name: np.asarray(value).transpose(2, 0, 1) for name, value in out.items()}

    def tile_plan(self, shape: tuple[int, ...], tile: int) -> TilePlan:
        return plan_tiles(shape[0], shape[1], tile, self.arch, self.layers)

    def statistics(self, image: np.ndarray, tile: int | None = None) -> LayerStatistics:
        if tile is None:
            return statistics_of(self.features(image))
        return tiled_statistics(
            self.module, self.params, self.to_device(image), self.tile_plan(image.shape, tile)
        )


class JaxBackend(Backend[JaxNetwork]):
    name = "jax"
    framework_packages = ("jax", "jaxlib", "flax", "optax")
    # Fitted to the peak RSS of JAX CPU runs (docs/memory.md).
    host_memory = HostMemoryModel(bytes_per_pixel=4.5 * 1024)

    def set_host_threads(self, threads: int) -> None:
        """XLA sizes its CPU thread pool once, when JAX starts; a running process keeps it."""

    def is_out_of_memory(self, error: Exception) -> bool:
        # XLA reports a failed allocation, on any platform, with this status code.
        return isinstance(error, jax.errors.JaxRuntimeError) and "RESOURCE_EXHAUSTED" in str(error)

    def free_memory(self, net: JaxNetwork) -> int | None:
        stats = net.jax_device.memory_stats() if net.jax_device.platform != "cpu" else None
        if not stats or "bytes_limit" not in stats:
            return None
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0)

    def devices(self) -> list[str]:
        return [device_name(d) for platform in ("cpu", "gpu", "tpu") for d in _platform_devices(platform)]

    def resolve_device(self, device: str) -> jax.Device:
        if device == "auto":
            return jax.devices()[0]  # jax's default backend: TPU, else GPU, else CPU
        platform, index = devices.parse_device(device)
        found = _platform_devices(platform)
        if not found:
            raise devices.none_here(device, "jax", platform)
        if (index or 0) >= len(found):
            raise devices.index_out_of_range(device, len(found), platform)
        return found[index or 0]

    def load_network(
        self,
        params: Mapping[str, np.ndarray],
        arch: Arch,
        preprocess: Preprocess,
        layers: Sequence[str],
        pooling: str,
        device: str = "auto",
    ) -> JaxNetwork:
        resolved = devices.resolve_devices(device, self.devices(), self.resolve_device)
        enable_compilation_cache()
        module = VGGFeatures(arch, preprocess, tuple(layers), pooling, mesh=sharding.device_mesh(resolved))
        return JaxNetwork(module, flax_params(params, arch, layers), resolved)

    def prepare_targets(
        self,
        net: JaxNetwork,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        spec: LossSpec,
        guides: Guides | None = None,
        temporal: tuple[np.ndarray, np.ndarray] | None = None,
        tile: int | None = None,
    ) -> Targets:
        spec = spec.unweighted()  # the targets need the form only: one compile for any weights
        if tile is None:
            targets = self._whole_targets(net, content, styles, spec, guides)
        else:
            plan_for = functools.partial(net.tile_plan, tile=tile)
            targets = tiled_targets(
                net.module, net.params, content, styles, spec, guides, plan_for, net.placement
            )
        if temporal is None:
            return targets
        previous, confidence = temporal
        # Plain arrays in the targets pytree: the next frame's, of the same shapes, reuse the
        # compiled step.
        return targets._replace(previous=net.to_device(previous), confidence=net.to_device(confidence))

    def _whole_targets(
        self,
        net: JaxNetwork,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        spec: LossSpec,
        guides: Guides | None,
    ) -> Targets:
        on_device = None
        if guides is not None:
            on_device = {
                "output": {l: net.to_device(g) for l, g in guides.output.items()},
                "styles": [
                    {l: net.to_device(g) for l, g in per_style.items()} for per_style in guides.styles
                ],
                "weights": net.to_device(np.asarray(guides.weights)),
            }
        return _targets(
            net.module,
            spec,
            net.params,
            net.to_device(content),
            [net.to_device(style) for style in styles],
            on_device,
        )

    def loss_terms(
        self, net: JaxNetwork, targets: Targets, image: np.ndarray, spec: LossSpec, tile: int | None = None
    ) -> dict[str, float]:
        pixels, form, weights = net.to_device(image), spec.unweighted(), traced_weights(spec)
        if tile is None:
            terms = _terms(net.module, form, net.params, targets, weights, pixels)
        else:
            plan = net.tile_plan(image.shape, tile)
            terms = _tiled_terms(net.module, form, plan, net.params, targets, weights, pixels)
        return {k: float(v) for k, v in jax.device_get(terms).items()}

    def loss_gradient(
        self, net: JaxNetwork, targets: Targets, image: np.ndarray, spec: LossSpec, tile: int | None = None
    ) -> np.ndarray:
        pixels, form, weights = net.to_device(image), spec.unweighted(), traced_weights(spec)
        if tile is None:
            return np.asarray(_gradient(net.module, form, net.params, targets, weights, pixels))
        plan = net.tile_plan(image.shape, tile)
        return np.asarray(_tiled_gradient(net.module, form, plan, net.params, targets, weights, pixels))

    def start(
        self,
        net: JaxNetwork,
        targets: Targets,
        init: np.ndarray,
        spec: LossSpec,
        settings: RunSettings,
        tile: int | None = None,
    ) -> JaxOptimization:
        plan = None if tile is None else net.tile_plan(init.shape, tile)
        return JaxOptimization(net.module, net.params, targets, init, spec, settings, net.placement, plan)

    def start_batch(
        self,
        net: JaxNetwork,
        targets: Sequence[Targets],
        inits: Sequence[np.ndarray],
        specs: Sequence[LossSpec],
        settings: RunSettings,
    ) -> JaxBatchOptimization:
        module, params, targets = net.module, net.params, list(targets)
        if module.mesh is not None:
            # A batch runs on one device (``nst batch`` gives each device its own worker): a
            # network on several runs it on its first.
            module, params = module.clone(mesh=None), jax.device_put(params, net.jax_device)
            targets = [jax.device_put(t, net.jax_device) for t in targets]
        return JaxBatchOptimization(module, params, targets, inits, list(specs), settings, net.jax_device)


def device_name(device: jax.Device) -> str:
    """'cpu:0', 'gpu:1', 'tpu:0': jax's platform and the device's index on it."""
    return f"{device.platform}:{_platform_devices(device.platform).index(device)}"


def _platform_devices(platform: str) -> list[jax.Device]:
    try:
        return jax.devices(platform)
    except RuntimeError:  # jax raises when no backend of that platform is present
        return []
