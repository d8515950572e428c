"""Several same-shape images optimised at once, each exactly as on its own
(``nst.backend.BatchOptimization``).

Each image keeps its own ``TorchOptimization``: its own pixels, targets and optimiser, so
L-BFGS keeps its own history and line search. What they share is the evaluation: each
optimiser runs in a thread of its own, and hands each point it evaluates to a ``_Batcher``
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
from nst.options.run_settings import RunSettings


class _Member(TorchOptimization):
    """One image of the batch: a ``TorchOptimization`` whose evaluations ask the batcher."""

    batcher: _Batcher
    # Members run in threads beside the batcher's: a capture in one would catch the others' work.
    may_capture = False

    def terms_and_gradient(self, image: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return self.batcher.evaluate(self, image.detach())


class _Batcher:
    def __init__(self, net: VGGFeatures, bf16: bool):
        self.net, self.bf16 = net, bf16
        self.condition = threading.Condition()
        self.waiting: list[tuple[_Member, torch.Tensor]] = []
        self.running = 0
        self.answered: dict[int, tuple[dict[str, torch.Tensor], torch.Tensor]] = {}

    def evaluate(self, member: _Member, image: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Called from a member's thread: the loss terms at ``image`` and the gradient there."""
        with self.condition:
            self.waiting.append((member, image))
            self.condition.notify_all()
            self.condition.wait_for(lambda: id(member) in self.answered)
            return self.answered.pop(id(member))

    def serve(self, members: Sequence[_Member], steps: int) -> None:
        """Run ``steps`` steps of every member, evaluating their points together."""
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
                answers = self._evaluate(batch)
            except BaseException as error:
                errors.append(error)
                nan = torch.tensor(float("nan"))
                answers = [({"total": nan}, torch.full_like(image, float("nan"))) for _, image in batch]
            with self.condition:
                self.answered.update({id(m): answer for (m, _), answer in zip(batch, answers)})
                self.condition.notify_all()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _evaluate(
        self, batch: list[tuple[_Member, torch.Tensor]]
    ) -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        pixels = torch.cat([image for _, image in batch]).requires_grad_(True)
        with torch.autocast(pixels.device.type, torch.bfloat16, enabled=self.bf16):
            features = self.net(pixels)
        terms_per_image = []
        for index, (member, _) in enumerate(batch):
            own = {layer: value[index : index + 1] for layer, value in features.items()}
            terms_per_image.append(loss_terms(own, member.targets, pixels[index : index + 1], member.spec))
        torch.stack([terms["total"] for terms in terms_per_image]).sum().backward()
        assert pixels.grad is not None
        return [
            ({k: v.detach() for k, v in terms.items()}, pixels.grad[index : index + 1].clone())
            for index, terms in enumerate(terms_per_image)
        ]


class TorchBatchOptimization:
    """``sequential``: the images run one after another, each its own single run, bit for bit;
    by default on the CPU, where a batched convolution is no faster (docs/batch.md) and
    rounds differently in the last bit, which L-BFGS's line search can turn into another
    trial step. Else their evaluations are batched by a ``_Batcher``."""

    compile_seconds = 0.0

    def __init__(
        self,
        net: VGGFeatures,
        targets: Sequence[Targets],
        inits: Sequence[np.ndarray],
        specs: Sequence[LossSpec],
        settings: RunSettings,
        device: torch.device,
        sequential: bool | None = None,
    ):
        self.settings = settings
        self.sequential = device.type == "cpu" if sequential is None else sequential
        self.batcher = _Batcher(net, settings.precision == "bf16")
        problems = list(zip(targets, inits, specs))
        self.batched: list[_Member] = []
        self.members: list[TorchOptimization]
        if self.sequential:
            self.members = [TorchOptimization(net, *problem, settings, device) for problem in problems]
        else:
            self.batched = [_Member(net, *problem, settings, device) for problem in problems]
            for member in self.batched:
                member.batcher = self.batcher
            self.members = list(self.batched)

    def advance(self, steps: int) -> list[dict[str, float]]:
        if self.sequential:
            return [member.advance(steps) for member in self.members]
        with run_flags(self.settings):
            self.batcher.serve(self.batched, steps)
        for member in self.batched:
            member._release_autotune_memory()
        return [{k: float(v) for k, v in m.last_terms.items()} for m in self.members]

    def images(self) -> list[np.ndarray]:
        return [member.image() for member in self.members]
