"""``nst.backend.Backend`` implemented with PyTorch."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from nst.backend import Preprocess
from nst.config import Config, LossSpec
from nst.errors import NstError
from nst.masks import Guides
from nst.network import Arch
from nst.backends.torch.losses import Targets, gram, guided_grams, loss_terms, mean_cov
from nst.backends.torch.optim import TorchOptimization, to_numpy, to_tensor
from nst.backends.torch.vgg import VGGFeatures


class TorchNetwork:
    def __init__(self, module: VGGFeatures, device: torch.device):
        self.module = module
        self.arch = module.arch
        self.layers = module.layers
        self.device = str(device)
        self.torch_device = device

    def features(self, image: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = self.module(to_tensor(image, self.torch_device))
        return {name: value[0].cpu().numpy() for name, value in out.items()}


class TorchBackend:
    name = "torch"

    def is_out_of_memory(self, error: Exception) -> bool:
        # On CPU the allocator raises a plain RuntimeError; this is its wording (c10's alloc_cpu).
        return (isinstance(error, torch.OutOfMemoryError)
                or (isinstance(error, RuntimeError) and "can't allocate memory" in str(error)))

    def devices(self) -> list[str]:
        return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]

    def resolve_device(self, device: str) -> torch.device:
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if device == "tpu":
            raise NstError("the torch backend does not run on TPUs; use --backend jax")
        if device == "gpu":
            device = "cuda"
        try:
            resolved = torch.device(device)
        except RuntimeError:
            raise NstError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N, gpu or tpu") from None
        if resolved.type == "cuda":
            count = torch.cuda.device_count()
            if count == 0:
                raise NstError(f"device {device!r} asked for, but torch sees no CUDA GPU here; use --device cpu")
            if (resolved.index or 0) >= count:
                raise NstError(f"device {device!r} does not exist; this machine has {count} CUDA GPU(s)")
        elif resolved.type != "cpu":
            raise NstError(f"unsupported device {device!r}; use auto, cpu, cuda, cuda:N or gpu")
        return resolved

    def load_network(self, params: Mapping[str, np.ndarray], arch: Arch, preprocess: Preprocess,
                     layers: Sequence[str], pooling: str, device: str = "auto") -> TorchNetwork:
        resolved = self.resolve_device(device)
        if resolved.type == "cuda":
            # The image size is fixed during a scale, so autotuned conv algorithms are tuned once
            # and then used for every step; what it costs and buys: docs/performance.md.
            torch.backends.cudnn.benchmark = True
        module = VGGFeatures(params, arch, preprocess, layers, pooling).to(resolved)
        return TorchNetwork(module, resolved)

    def prepare_targets(self, net: TorchNetwork, content: np.ndarray, styles: Sequence[np.ndarray],
                        spec: LossSpec, guides: Guides | None = None) -> Targets:
        device = net.torch_device
        with torch.no_grad():
            content_features = {}
            if spec.content:
                out = net.module(to_tensor(content, device))
                content_features = {l: out[l] for l, _ in spec.content}
            layers = [l for l, _ in spec.style]
            grams, means, covs = {}, {}, {}
            style_features = [net.module(to_tensor(style, device)) for style in styles]
            if guides is not None:
                as_tensor = lambda array: torch.from_numpy(np.asarray(array, np.float32)).to(device)
                for l in layers:
                    grams[l] = torch.cat([guided_grams(out[l], as_tensor(g[l])[None])
                                          for out, g in zip(style_features, guides.styles)])
                return Targets(content_features, grams,
                               guides={l: as_tensor(guides.output[l]) for l in layers},
                               region_weights=as_tensor(guides.weights))
            for blend, out in zip(spec.style_blend, style_features):
                for l in layers:
                    if spec.style_loss == "meancov":
                        mean, cov = mean_cov(out[l])
                        means[l] = means.get(l, 0) + blend * mean[0]
                        covs[l] = covs.get(l, 0) + blend * cov[0]
                    else:
                        grams[l] = grams.get(l, 0) + blend * gram(out[l])[0]
        return Targets(content_features, grams, means, covs)

    def loss_terms(self, net: TorchNetwork, targets: Targets, image: np.ndarray,
                   spec: LossSpec) -> dict[str, float]:
        with torch.no_grad():
            pixels = to_tensor(image, net.torch_device)
            terms = loss_terms(net.module(pixels), targets, pixels, spec)
        return {k: float(v) for k, v in terms.items()}

    def loss_gradient(self, net: TorchNetwork, targets: Targets, image: np.ndarray,
                      spec: LossSpec) -> np.ndarray:
        pixels = to_tensor(image, net.torch_device).requires_grad_(True)
        loss_terms(net.module(pixels), targets, pixels, spec)["total"].backward()
        return to_numpy(pixels.grad)

    def start(self, net: TorchNetwork, targets: Targets, init: np.ndarray, spec: LossSpec,
              cfg: Config) -> TorchOptimization:
        return TorchOptimization(net.module, targets, init, spec, cfg, net.torch_device)
