"""The loop most tutorials and ports write, measured beside nst: the whole VGG feature stack
(no cut after the deepest needed layer), loss modules that stash values as side effects,
`.item()` on every step, and the optimiser's default settings."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nst.arch import Arch


class _Normalization(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(-1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def _gram(x):
    b, c, h, w = x.size()
    features = x.view(b * c, h * w)
    return torch.mm(features, features.t()).div(b * c * h * w)


class _ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, x):
        self.loss = F.mse_loss(x, self.target)
        return x


class _StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = _gram(target_feature).detach()

    def forward(self, x):
        self.loss = F.mse_loss(_gram(x), self.target)
        return x


def build(params, arch: Arch, content, style, content_layers, style_layers):
    """nn.Sequential over the full network with loss modules after the named layers."""
    model = nn.Sequential(_Normalization()).to(content.device)
    content_losses, style_losses = [], []
    convs = {name: (cin, cout) for name, cin, cout in arch.convs}
    for name in arch.layers:
        if name.startswith("conv"):
            layer = nn.Conv2d(*convs[name], 3, padding=1)
            layer.weight.data.copy_(torch.from_numpy(params[f"{name}.weight"]))
            layer.bias.data.copy_(torch.from_numpy(params[f"{name}.bias"]))
        elif name.startswith("relu"):
            layer = nn.ReLU(inplace=False)
        else:
            layer = nn.MaxPool2d(2, 2)
        model.add_module(name, layer.to(content.device))
        if name in content_layers:
            module = _ContentLoss(model(content))
            model.add_module(f"content_{name}", module)
            content_losses.append(module)
        if name in style_layers:
            module = _StyleLoss(model(style))
            model.add_module(f"style_{name}", module)
            style_losses.append(module)
    model.requires_grad_(False)
    return model, content_losses, style_losses


class BaselineRun:
    """Adam or L-BFGS as in the tutorials; one `advance` step = one loss evaluation."""

    compile_seconds = 0.0  # eager PyTorch: nothing compiles

    def __init__(self, params, arch, content, style, spec, optimizer: str, lr: float):
        self.model, self.content_losses, self.style_losses = build(
            params, arch, content, style, dict(spec.content), dict(spec.style)
        )
        self.content_weight = sum(w for _, w in spec.content)
        self.style_weight = sum(w for _, w in spec.style)
        self.image = content.clone().requires_grad_(True)
        self.optimizer = (
            torch.optim.LBFGS([self.image]) if optimizer == "lbfgs" else torch.optim.Adam([self.image], lr=lr)
        )
        self.loss = float("nan")

    def _closure(self):
        self.optimizer.zero_grad()
        self.model(self.image)
        style = sum(m.loss for m in self.style_losses) * self.style_weight / len(self.style_losses)
        content = sum(m.loss for m in self.content_losses) * self.content_weight
        loss = style + content
        loss.backward()
        self.loss = loss.item()
        return loss

    def advance(self, steps: int) -> dict[str, float]:
        if isinstance(self.optimizer, torch.optim.LBFGS):
            # The tutorials call step() with the default max_iter=20; we ask for `steps`
            # iterations per call so chunks line up with nst's, all else left at the defaults.
            group = self.optimizer.param_groups[0]
            group["max_iter"], group["max_eval"] = steps, steps * 5 // 4
            self.optimizer.step(self._closure)
        else:
            for _ in range(steps):
                self.optimizer.step(self._closure)
        return {"total": self.loss}
