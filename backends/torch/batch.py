"""Several same-shape images optimised at once, each exactly as on its own
(``nst.backend.BatchOptimization``).

Each image keeps its own ``TorchOptimization``: its own pixels, targets and optimiser, so
L-BFGS keeps its own history and line search. What they share is the evaluation: each
optimiser runs in a thread of its own, and its closure hands its pixels to a ``_Batcher``
and waits; once every optimiser still running is waiting, this thread runs one forward and
backward pass of the network over all their images, with each image's loss reduced over its
own slice of the batch, and hands each optimiser its loss and gradient. An L-BFGS whose line
search needs fewer evaluations than another's simply finishes its iteration first; the
others' evaluations go on in smaller batches.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch

from nst.backends.torch.losses import loss_terms
from nst.backends.torch.optim import TorchOptimization, run_flags
from nst.backends.torch.vgg import VGGFeatures
from nst.objective import LossSpec, Targets
from nst.run_settings import RunSettings


class _Member(TorchOptimization):
    """One image of the batch: a ``TorchOptimization`` whose closure asks the batcher."""

    batcher: _Batcher

    def _closure(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        known = self._known_total()
        if known is not None:
            return known
        self.evaluations += 1
        total = self.batcher.evaluate(self)
        self._keep_last_point()
        return total


class _Batcher:
    def __init__(self, net: VGGFeatures, bf16: bool):
        self.net, self.bf16 = net, bf16
        self.condition = threading.Condition()
        self.waiting: list[_Member] = []
        self.running = 0
        self.answered: dict[int, torch.Tensor] = {}

    def evaluate(self, member: _Member) -> torch.Tensor:
        """Called from a member's thread: its loss, with its gradient set, once evaluated."""
        with self.condition:
            self.waiting.append(member)
            self.condition.notify_all()
            self.condition.wait_for(lambda: id(member) in self.answered)
            return self.answered.pop(id(member))

    def serve(self, members: Sequence[_Member], steps: int) -> None:
        """Run ``steps`` steps of every member, evaluating their closures together."""
        errors: list[BaseException] = []

        def work(member: _Member) -> None:
            try:
                member._steps(steps)
            except BaseException as error:  # re-raised in the serving thread
                errors.append(error)
            finally:
                with self.condition:
                    self.running -= 1
                    self.condition.notify_all()

        self.running = len(members)
        threads = [threading.Thread(target=work, args=(m,), daemon=True) for m in members]
        for thread in threads:
            thread.start()
        while True:
            with self.condition:
                self.condition.wait_for(lambda: self.running == len(self.waiting))
                if not self.running:
                    break
                batch, self.waiting = self.waiting, []
            try:
                losses = self._evaluate(batch)
            except BaseException as error:
                errors.append(error)
                losses = [torch.tensor(float("nan"))] * len(batch)
            with self.condition:
                self.answered.update({id(m): loss for m, loss in zip(batch, losses)})
                self.condition.notify_all()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _evaluate(self, batch: list[_Member]) -> list[torch.Tensor]:
        pixels = torch.cat([m.pixels.detach() for m in batch]).requires_grad_(True)
        with torch.autocast(pixels.device.type, torch.bfloat16, enabled=self.bf16):
            features = self.net(pixels)
        totals = []
        for index, member in enumerate(batch):
            own = {layer: value[index : index + 1] for layer, value in features.items()}
            terms = loss_terms(own, member.targets, pixels[index : index + 1], member.spec)
            member.last_terms = {k: v.detach() for k, v in terms.items()}
            totals.append(terms["total"])
        torch.stack(totals).sum().backward()
        assert pixels.grad is not None
        for index, member in enumerate(batch):
            member.pixels.grad = pixels.grad[index : index + 1].clone()
        return [total.detach() for total in totals]


class TorchBatchOptimization:
    compile_seconds = 0.0

    def __init__(
        self,
        net: VGGFeatures,
        targets: Sequence[Targets],
        inits: Sequence[np.ndarray],
        specs: Sequence[LossSpec],
        settings: RunSettings,
        device: torch.device,
    ):
        self.settings = settings
        self.batcher = _Batcher(net, settings.precision == "bf16")
        self.members = [
            _Member(net, t, init, spec, settings, device) for t, init, spec in zip(targets, inits, specs)
        ]
        for member in self.members:
            member.batcher = self.batcher

    def advance(self, steps: int) -> list[dict[str, float]]:
        with run_flags(self.settings):
            self.batcher.serve(self.members, steps)
        for member in self.members:
            member._release_autotune_memory()
        return [{k: float(v) for k, v in m.last_terms.items()} for m in self.members]

    def images(self) -> list[np.ndarray]:
        return [member.image() for member in self.members]
