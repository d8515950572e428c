"""The optimisation loop at one scale: L-BFGS (the paper) or Adam on the image pixels, in optax.

``advance(steps)`` is one dispatch: a compiled function runs ``steps`` optimiser steps in a
``lax.fori_loop`` on the device and returns the image, the optimiser state and the loss terms
of the final iterate; the host reads the terms (one synchronisation) only when it returns.

Compile once: ``steps`` is a traced loop bound (the loop lowers to a while loop), so every
chunk size, the driver's last shorter remainder included, runs the one executable that
``start`` compiles ahead of time (``compile_seconds`` says how long that took, so the driver
can keep it out of its per-step numbers). The image and the optimiser state are donated:
each chunk updates them in place instead of allocating new buffers.

With ``Config.ema`` the loop also carries the exponential moving average of the iterates,
avg_t = decay * avg_{t-1} + (1 - decay) * x_t from avg_0 = 0, updated after every optimiser
step on the device (donated like the image); ``image()`` hands back avg_t / (1 - decay^t),
as the torch backend does. Without ``ema`` the average is None, an empty pytree, and the
compiled loop is the one it was before.

On several devices (a module with a mesh, ``nst.backends.jax.sharding``) the loop runs SPMD:
the image and the optimiser's image-shaped state are split by rows, their rows padded to a
multiple of the devices (``rows`` is the image's own), and each step hands them back split
as they came, so the one executable and the donation hold there too.

``Config.precision`` (fp32, tf32, bf16) applies to the optimisation only, as in the torch
backend; the backend's loss_terms/loss_gradient and the targets stay in fp32.
"""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst.backends.jax import sharding
from nst.backends.jax.losses import objective, traced_weights
from nst.backends.jax.tiled import tiled_objective
from nst.backends.jax.vgg import VGGFeatures
from nst.objective import LINESEARCH_EVALUATIONS, LossSpec, LossWeights, Targets
from nst.options.run_settings import ADAM_BETA1, RunSettings
from nst.tiling import TilePlan


def make_optimizer(settings: RunSettings) -> optax.GradientTransformation:
    if settings.optimizer == "adam":
        return optax.adam(settings.step_size, b1=ADAM_BETA1, b2=settings.adam_beta2)
    # Mirrors the torch backend's L-BFGS (torch.optim.LBFGS's algorithm with
    # line_search_fn="strong_wolfe", backends/torch/lbfgs.py): the same memory, the same
    # Wolfe constants (optax's slope_rtol=1e-4 and curv_rtol=0.9 are torch's c1 and c2), at
    # most 25 evaluations per search, a first trial step of lr times the quasi-Newton
    # direction at every iteration (initial_guess_strategy="one"), and H0 scaled by s'y / y'y
    # (scale_init_precond).
    # Differences: optax's zoom interpolates cubically or quadratically where torch's is cubic
    # only; it stops narrowing a bracket at a relative width of 1e-5 (stepsize_precision,
    # keeping the best sufficient-decrease point) where torch stops at an absolute 1e-9
    # (tolerance_change); and on the very first iteration optax scales the gradient by
    # min(1, 1/||g||_2) where torch uses min(1, 1/||g||_1). Neither stops early on a small
    # gradient (torch's tolerance_grad=-1): every requested step runs.
    return optax.lbfgs(
        learning_rate=settings.step_size,
        memory_size=settings.lbfgs_history,
        linesearch=optax.scale_by_zoom_linesearch(
            max_linesearch_steps=LINESEARCH_EVALUATIONS, initial_guess_strategy="one"
        ),
    )


def own_buffers(opt_state):
    """The optimiser's initial state, ready for donation to the compiled step. Distinct buffers
    per leaf: optax's L-BFGS state holds some arrays twice, and one buffer must not be donated
    twice. Strong types: its line search's info starts weakly typed and comes back from a step
    strongly typed, which would compile the step a second time."""
    return jax.tree.map(lambda leaf: jnp.array(leaf, leaf.dtype, copy=True), opt_state)


def run_chunk(
    module: VGGFeatures,
    form: LossSpec,
    settings: RunSettings,
    plan: TilePlan | None,
    rows: int,
    image: jax.Array,
    opt_state,
    average: jax.Array | None,
    steps: jax.Array,
    params,
    targets: Targets,
    weights: LossWeights,
):
    """``steps`` optimiser steps from ``image``; returns the new image, state, moving average
    (None without ema), the loss terms of the new iterate (one extra forward pass per
    chunk, so the reported losses belong to the last iterate; torch's Adam reports the
    previous iterate's) and the steps' loss-and-gradient evaluations. With a ``plan`` every
    evaluation runs tile by tile (``tiled``). The objective sees the image's first ``rows``
    rows: the rest is padding (``sharding``). The objective is ``form`` with ``weights``
    (``losses.objective``)."""
    optimizer = make_optimizer(settings)
    if plan is None:
        evaluate = partial(objective, module, form, params, targets, weights)
    else:
        evaluate = partial(tiled_objective, module, form, plan, params, targets, weights)

    def terms_of(x):
        return evaluate(x[:rows])

    def total(x):
        return terms_of(x)["total"]

    shape = image.shape

    def placed(carry):
        return sharding.keep_state(carry, module.mesh, shape)

    if settings.optimizer == "lbfgs":
        # The line search stores the value and gradient at the accepted point; reuse them
        # instead of a fresh forward/backward pass at the start of the next iteration.
        value_and_grad = optax.value_and_grad_from_state(total)

        def step(x, state):
            """One iteration and its evaluations: the line search's, plus the first
            iteration's at its start point (no stored value yet)."""
            first = jnp.isinf(optax.tree_utils.tree_get(state, "value")).astype(jnp.int32)
            value, grad = value_and_grad(x, state=state)
            updates, state = optimizer.update(grad, state, x, value=value, grad=grad, value_fn=total)
            searched = optax.tree_utils.tree_get(state, "num_linesearch_steps")
            return optax.apply_updates(x, updates), state, first + searched
    else:

        def step(x, state):
            updates, state = optimizer.update(jax.grad(total)(x), state, x)
            return optax.apply_updates(x, updates), state, jnp.int32(1)

    def step_and_average(_, carry):
        (x, state, avg), evaluations = carry
        x, state, evaluated = step(x, state)
        if settings.ema:
            avg = settings.ema * avg + (1 - settings.ema) * x
        return placed((x, state, avg)), evaluations + evaluated

    (image, opt_state, average), evaluations = jax.lax.fori_loop(
        0, steps, step_and_average, ((image, opt_state, average), jnp.int32(0))
    )
    return (*placed((image, opt_state, average)), terms_of(image), evaluations)


# One executable per (network, objective's form, settings, tile plan, image shape, devices),
# whatever the chunk size and the weights: ``steps`` and ``weights`` are traced. The image,
# the optimiser state and the average are donated.
_run_chunk = jax.jit(run_chunk, static_argnums=(0, 1, 2, 3, 4), donate_argnums=(5, 6, 7))


class JaxOptimization:
    def __init__(
        self,
        module: VGGFeatures,
        params,
        targets: Targets,
        init: np.ndarray,
        spec: LossSpec,
        settings: RunSettings,
        device: sharding.Placement,
        plan: TilePlan | None = None,
    ):
        # The compiled step depends on the optimiser's settings only; cuDNN autotuning is torch's.
        settings = replace(settings, autotune=True)
        mesh, self._rows = module.mesh, init.shape[0]
        form = spec.unweighted()
        self._static = (module.clone(precision=settings.precision), form, settings, plan, self._rows)
        self._params, self._targets, self._weights = params, targets, traced_weights(spec)
        # A private copy on the device: donation must never write into the caller's array.
        start = np.zeros((sharding.padded_rows(self._rows, mesh), *init.shape[1:]), np.float32)
        start[: self._rows] = init

        def place(tree):
            return (
                jax.device_put(tree, device)
                if mesh is None
                else sharding.place_state(tree, mesh, start.shape)
            )

        self._image = place(start)
        self._opt_state = own_buffers(place(make_optimizer(settings).init(self._image)))
        self._ema, self._averaged_steps = settings.ema, 0
        self._average = place(np.zeros_like(start)) if settings.ema else None
        # Compile ahead of time (the first advance then finds the executable cached), so the
        # driver can report compile time once and keep it out of its per-step numbers.
        started = time.perf_counter()
        _run_chunk.lower(
            *self._static,
            self._image,
            self._opt_state,
            self._average,
            jnp.int32(1),
            params,
            targets,
            self._weights,
        ).compile()
        self.compile_seconds = time.perf_counter() - started
        self.evaluations = 0

    def advance(self, steps: int) -> dict[str, float]:
        self._image, self._opt_state, self._average, terms, evaluations = _run_chunk(
            *self._static,
            self._image,
            self._opt_state,
            self._average,
            jnp.int32(steps),
            self._params,
            self._targets,
            self._weights,
        )
        self._averaged_steps += steps
        terms, evaluations = jax.device_get((terms, evaluations))
        self.evaluations += int(evaluations)
        return {k: float(v) for k, v in terms.items()}

    def image(self) -> np.ndarray:
        """The iterate, or with ``ema`` the bias-corrected average of the iterates so far."""
        # A host copy: the device buffers are donated (and overwritten) by the next advance.
        if self._ema and self._averaged_steps:
            average = np.asarray(self._average, np.float32)[: self._rows]
            return average / np.float32(1 - self._ema**self._averaged_steps)
        return np.array(self._image, np.float32, copy=True)[: self._rows]


def run_chunk_batch(
    module, form, settings, sequential, images, opt_states, averages, steps, params, targets, weights
):
    """``run_chunk`` of every image of a batch at once, over the images, their states, averages,
    targets and weights (leading axis); the network's parameters and the objective's form are
    shared, and each image keeps its own optimiser. With ``sequential`` the images run one after
    another inside the step (``lax.map``): each then rounds exactly as its single run, where a
    vmapped convolution differs in the last bit and L-BFGS's line search amplifies that
    (docs/batch.md); on the CPU a batch gains no speed anyway. Else vmapped, to fill an
    accelerator: vmap runs the line searches' loops until every image's search has ended and
    leaves an image whose search ended first as it was."""

    def one(image, opt_state, average, image_targets, image_weights):
        return run_chunk(
            module,
            form,
            settings,
            None,
            image.shape[0],
            image,
            opt_state,
            average,
            steps,
            params,
            image_targets,
            image_weights,
        )

    per_image = (images, opt_states, averages, targets, weights)
    if sequential:
        return jax.lax.map(lambda arguments: one(*arguments), per_image)
    return jax.vmap(one)(*per_image)


_run_chunk_batch = jax.jit(run_chunk_batch, static_argnums=(0, 1, 2, 3), donate_argnums=(4, 5, 6))


def stacked(trees: list):
    """Pytrees of one structure as one, each leaf stacked along a new leading axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


class JaxBatchOptimization:
    """``JaxOptimization`` for a batch of same-shape images (``nst.backend.BatchOptimization``)."""

    def __init__(
        self,
        module,
        params,
        targets: list[Targets],
        inits,
        specs: list[LossSpec],
        settings,
        device,
        sequential: bool | None = None,
    ):
        """``sequential`` (``run_chunk_batch``): by default on the CPU only."""
        settings = replace(settings, autotune=True)
        module, form = module.clone(precision=settings.precision), specs[0].unweighted()
        sequential = device.platform == "cpu" if sequential is None else sequential
        self._static = (module, form, settings, sequential)
        self._params = params
        self._targets = stacked(targets)
        self._weights = stacked([traced_weights(spec) for spec in specs])
        self._images = jax.device_put(np.stack([np.asarray(i, np.float32) for i in inits]), device)
        self._opt_state = own_buffers(
            jax.device_put(jax.vmap(make_optimizer(settings).init)(self._images), device)
        )
        self._ema, self._averaged_steps = settings.ema, 0
        self._average = jnp.zeros_like(self._images) if settings.ema else None
        started = time.perf_counter()
        _run_chunk_batch.lower(
            *self._static,
            self._images,
            self._opt_state,
            self._average,
            jnp.int32(1),
            params,
            self._targets,
            self._weights,
        ).compile()
        self.compile_seconds = time.perf_counter() - started

    def advance(self, steps: int) -> list[dict[str, float]]:
        self._images, self._opt_state, self._average, terms, _ = _run_chunk_batch(
            *self._static,
            self._images,
            self._opt_state,
            self._average,
            jnp.int32(steps),
            self._params,
            self._targets,
            self._weights,
        )
        self._averaged_steps += steps
        terms = jax.device_get(terms)
        return [{k: float(v[i]) for k, v in terms.items()} for i in range(len(terms["total"]))]

    def images(self) -> list[np.ndarray]:
        if self._ema and self._averaged_steps:
            stacked = np.asarray(self._average, np.float32) / np.float32(1 - self._ema**self._averaged_steps)
        else:
            stacked = np.array(self._images, np.float32, copy=True)
        return list(stacked)
