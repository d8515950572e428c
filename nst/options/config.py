"""The options of ``nst stylize``, each declared once: its default, kind, help, choices, range
and short form in the README's table.

``Config`` is a flat frozen dataclass: one field per user-facing option, each field declared
with ``option`` (``nst.options.option``). The CLI's flags, the checks of ``__post_init__`` and
the README's table follow the declarations, so a default changed here is changed everywhere
(the README's table after ``python -m nst.options --readme``). Presets are named sets of
overrides applied before the user's own flags. ``Config.loss_spec`` resolves the options into
the objective (``nst.objective.LossSpec``) that the backends see.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cache

from nst.arch import PREPROCESSES, layer_block
from nst.color import COLOR_MODES
from nst.errors import NstError
from nst.objective import LossSpec, layer_weights
from nst.options.checks import (
    ALL_AT_LEAST_1,
    ALL_NON_NEGATIVE,
    AT_LEAST_1,
    DECAY,
    NON_NEGATIVE,
    POSITIVE,
    SHARE,
    ZERO_OR_MORE,
    Check,
)
from nst.options.kinds import (
    FLOAT,
    INT,
    LAYERS,
    OPTIONAL_FLOAT,
    OPTIONAL_FLOATS,
    OPTIONAL_INTS,
    OPTIONAL_PATHS,
    SWITCH,
    TEXT,
    WORD_OR_INT,
)
from nst.options.option import Option, option
from nst.options.run_settings import RunSettings
from nst.scales import scale_iterations, scale_sizes

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu3_2", "relu4_2", "relu5_2")
PAPER_CONTENT_LAYERS = ("relu4_2",)
# Style weight of a layer by its VGG block under 'relative' (blocks not named: 1).
TAPERED_STYLE_BLOCKS = {4: 0.5, 5: 0.1}
# At the coarsest of several scales, where the picture is laid out, blocks 4 and 5 see whole
# objects of the painting (an eye, a face) and paint them into the photo. Blocks 1-3 carry the
# style there at twice beta, which keeps as much of the painting; the finer scales add the deep
# blocks' long strokes (docs/quality.md).
LAYOUT_STYLE_BLOCKS = {4: 0.0, 5: 0.0}
LAYOUT_STYLE_GAIN = 2.0


@dataclass(frozen=True)
class Config:
    size: int = option(
        INT, 512, "longest side of the output in pixels", check=AT_LEAST_1, brief="longest side of the output"
    )
    # The picture is laid out at the coarsest scale; each finer scale refines it in half the
    # steps (nst/scales.py, docs/quality.md).
    iterations: int = option(
        INT,
        300,
        "optimisation steps (L-BFGS iterations or Adam steps) at the coarsest scale (the only "
        "one below --size 362); each finer scale takes half as many",
        check=AT_LEAST_1,
        brief="L-BFGS iterations or Adam steps at the coarsest scale; each finer one takes half",
    )
    scales: int = option(
        INT,
        0,
        "coarse to fine: optimise at this many sizes, each sqrt(2) larger, "
        "ending at --size; 0: auto, from about 256 px (256, 362, 512 at 512 px); 1: one scale",
        check=Check(lambda n: n >= 0, "0 (auto) or more"),
        brief="coarse to fine: sizes √2 apart ending at `--size`; auto: from about 256 px",
        brief_default="0 (auto)",
    )
    scale_iterations: tuple[int, ...] | None = option(
        OPTIONAL_INTS,
        None,
        "steps at each scale, coarsest first, e.g. 300,150,75; without it, --iterations "
        "at the coarsest scale and half as many at each finer one",
        check=ALL_AT_LEAST_1,
        brief="steps per scale, coarsest first, e.g. `300,150,75`",
        brief_default="half the next coarser scale's",
    )
    # The finer scales start from the coarser result upsampled, which has lost the photo's
    # thin structures; its detail band brings them back where they were. Half of it keeps them
    # and leaves the last scale more of the painting (docs/quality.md).
    scale_detail: float = option(
        FLOAT,
        0.5,
        "coarse to fine: add this share of the photo's detail (in the paintings' colours) that "
        "the coarser scale could not hold when moving up a scale; 0: none, 1: all of it",
        metavar="SHARE",
        check=SHARE,
        brief="share of the photo's detail added back at each finer scale",
    )
    # One per content layer: each layer's relative feature error at weight 1 (docs/quality.md).
    content_weight: float = option(
        FLOAT,
        3.0,
        "alpha: weight of the content loss",
        check=NON_NEGATIVE,
        brief="alpha and beta ([why](docs/quality.md))",
    )
    # With 'relative' terms beta/alpha is the weight of relative Gram error against relative
    # feature error, the same for any network; 70 with the tapered style layers keeps a face's
    # likeness and the photo's layout on photos the Figure 2 study had not seen (docs/quality.md).
    style_weight: float = option(
        FLOAT, 70.0, "beta: weight of the style loss", check=NON_NEGATIVE, row_of="content_weight"
    )
    # Under 'relative' (nst.objective.resolved) the TV term is scaled by the paintings' and the
    # photo's roughness: it smooths a flat painting's style and leaves a busy one's strokes.
    # 0.73 gives the_scream on tubingen the smoothing it was measured to need (docs/quality.md).
    tv_weight: float = option(
        FLOAT,
        0.73,
        "weight of the total-variation smoothness loss (with 'relative': of the output's total "
        "variation over the style images', times the square of the content's roughness over "
        "the style images', each over its own contrast)",
        check=NON_NEGATIVE,
        brief="total-variation smoothing, scaled by the painting's and photo's roughness",
    )
    # The paper's relu4_2 with a finer and a coarser layer: the photo's buildings stay sharp
    # where the fine scales add strokes (docs/quality.md).
    content_layers: tuple[str, ...] = option(
        LAYERS,
        CONTENT_LAYERS,
        "layers whose features carry the content",
        brief="comma lists; `NAME:WEIGHT` sets a layer's weight",
    )
    content_layer_weights: tuple[float, ...] | None = option(
        OPTIONAL_FLOATS,
        None,
        "per-layer content weights (default: equal, summing to 1)",
        check=ALL_NON_NEGATIVE,
        brief="the layer weights as a list",
        brief_default="equal",
    )
    style_layers: tuple[str, ...] = option(
        LAYERS, STYLE_LAYERS, "layers whose Gram matrices carry the style", row_of="content_layers"
    )
    # Under 'relative' every layer counts alike, and the deepest layers' Grams then paint the
    # painting's objects (eyes, faces) into the photo; tapered, and off where the picture is laid
    # out (LAYOUT_STYLE_BLOCKS), they keep its long strokes (docs/quality.md).
    style_layer_weights: tuple[float, ...] | None = option(
        OPTIONAL_FLOATS,
        None,
        "per-layer style weights, summing to 1 after scaling (default: with 'relative', 1 in "
        "blocks 1-3, 0.5 in block 4, 0.1 in block 5, and at the coarsest of several scales "
        "blocks 1-3 only, at twice beta; else equal, the paper's w_l = 1/5)",
        check=ALL_NON_NEGATIVE,
        brief_default="style: ½ block 4, ⅒ block 5; coarsest scale: blocks 1-3, 2β",
        row_of="content_layer_weights",
    )
    style_blend: tuple[float, ...] | None = option(
        OPTIONAL_FLOATS,
        None,
        "weights of the style images in the blended Gram target (default: equal)",
        check=ALL_NON_NEGATIVE,
        brief="weights of several style images",
        brief_default="equal",
    )
    style_scale: float = option(
        FLOAT,
        1.0,
        "resize each style image so its longest side is this times --size before its "
        "features are taken (smaller: finer brush strokes)",
        check=POSITIVE,
        brief="style images resized to this times `--size` (smaller: finer strokes)",
    )
    colors: str = option(
        TEXT,
        "style",
        "colours of the result (Gatys et al. 2017): style (the painting's), luminance "
        "(transfer luminance only, keep the content's colours), histogram (recolour each style "
        "image to the content's colour mean and covariance first)",
        choices=COLOR_MODES,
        brief="`style`, `luminance` (keep the photo's colours), `histogram`",
    )
    style_loss: str = option(
        TEXT,
        "gram",
        "style statistic: 'gram' (Gram matrices, the paper) or 'meancov' (per-channel "
        "means and covariances; comparable in scale to gram at the same --style-weight)",
        choices=("gram", "meancov"),
        brief="`gram` (the paper) or `meancov` (channel means and covariances)",
    )
    mask: tuple[str, ...] | None = option(
        OPTIONAL_PATHS,
        None,
        "spatial control: comma list of mask images, one per style image, white where "
        "that style goes (one mask with two styles: the second takes the rest); resized to the "
        "output",
        metavar="MASK[,MASK...]",
        brief="spatial control: which style goes where",
        brief_default="none",
    )
    style_mask: tuple[str, ...] | None = option(
        OPTIONAL_PATHS,
        None,
        "comma list of masks on the style images, one per style, white where to take the "
        "style from (default: all of each)",
        metavar="MASK[,MASK...]",
        brief_default="none",
        row_of="mask",
    )
    # Each layer's term relative to its own scale: one default for VGG16, VGG19, Caffe or
    # torchvision preprocessing and any image pair (docs/quality.md, docs/losses.md).
    normalization: str = option(
        TEXT,
        "relative",
        "loss normalisation: 'relative' (each layer's term divided by its value "
        "for zero features, so every layer counts alike and weights suit any network), 'mse' "
        "(Gram / (C*H*W), mean squared error, as most tools) or 'paper' (1/(4 N^2 M^2) and "
        "1/2 sum of squares, Gatys et al. 2016)",
        choices=("relative", "mse", "paper"),
        brief="`relative` (each term over its value for zero features), `mse`, `paper` (1/(4N²M²))",
    )
    # The photo in the painting's colours: the photo's layout without its sky stuck in a local
    # minimum of the photo's colours (docs/quality.md).
    init: str = option(
        TEXT,
        "recolored",
        "starting image: content, recolored (the content photo in "
        "the style images' colour mean and covariance), noise (white noise, the "
        "paper), style, or the path of an image",
        metavar="{content,recolored,noise,style,PATH}",
        brief="`recolored` (the photo in the painting's colours), `content`, `noise` (the paper), "
        "`style`, a path",
    )
    optimizer: str = option(
        TEXT,
        "lbfgs",
        "lbfgs (the paper) or adam (less memory)",
        choices=("lbfgs", "adam"),
        brief="`lbfgs` (the paper) or `adam` (less memory)",
    )
    lr: float | None = option(
        OPTIONAL_FLOAT,
        None,
        "step size (default: 1.0 for lbfgs, 0.02 for adam)",
        check=POSITIVE,
        brief="step size",
        brief_default="1.0 (L-BFGS), 0.02 (Adam)",
    )
    # Not torch's and optax's 0.999: from noise the first gradients dwarf the later ones, and
    # a ~1000-step memory of them keeps Adam's steps tiny for hundreds of steps; see docs/adam.md.
    adam_beta2: float = option(
        FLOAT,
        0.9,
        "Adam's second-moment decay (torch's and optax's default: "
        "0.999, which from noise stalls for hundreds of steps)",
        metavar="BETA2",
        check=DECAY,
        brief="Adam's second-moment decay ([why not 0.999](docs/adam.md))",
    )
    lbfgs_history: int = option(
        INT, 50, "L-BFGS memory: number of past updates kept", check=AT_LEAST_1, brief="L-BFGS memory"
    )
    precision: str = option(
        TEXT,
        "fp32",
        "network arithmetic: fp32; tf32 (GPU matmuls in TensorFloat-32); bf16 (mixed "
        "precision: convolutions in bfloat16, Gram matrices and losses in fp32)",
        choices=("fp32", "tf32", "bf16"),
        brief="`fp32`, `tf32` (GPU), `bf16` (mixed; emulated and slow on a CPU without AVX512_BF16 "
        "or AMX, which nst says)",
    )
    pooling: str = option(
        TEXT,
        "max",
        "pooling in the network: max (VGG) or avg (the paper)",
        choices=("max", "avg"),
        brief="`max` (VGG) or `avg` (the paper)",
    )
    weights: str = option(
        TEXT,
        "auto",
        "network weights: auto, vgg19, vgg16, vgg16-offline, or a path "
        "to a .pth, .safetensors or .npz state_dict",
        brief="`auto`, `vgg19`, `vgg16`, `vgg16-offline`, or a file",
    )
    preprocess: str = option(
        TEXT,
        "auto",
        "how images become the network's input: torchvision (RGB in [0, 1], ImageNet "
        "mean/std) or caffe (BGR in 0..255 minus the mean pixel, for Caffe-converted weights such "
        "as vgg19-d01eb7cb.pth); auto: a named source's, a file's by its name, else by its "
        "conv1_1 scale",
        choices=("auto", *PREPROCESSES),
        brief="`torchvision` or `caffe` (BGR, 0..255, mean pixel); auto: from the weights",
    )
    device: str = option(
        TEXT,
        "auto",
        "device: auto, cpu, cuda, cuda:N, gpu or tpu; several for one image: a comma list "
        "(cuda:0,cuda:1) or all (every GPU or TPU here)",
        brief="`auto`, `cpu`, `cuda`, `cuda:N`, `gpu`, `tpu`; one image over several: "
        "`cuda:0,cuda:1` or `all`",
    )
    # Exact, not an approximation: tiled and whole-image loss and gradient are equal
    # (docs/tiling.md), so a poster larger than memory has no seams.
    tile: str = option(
        WORD_OR_INT,
        "auto",
        "evaluate the image in tiles of N px (with halos; the result is the same, the memory "
        "is a tile's): auto (tile a CPU run only where the whole image would not fit), off, or N",
        metavar="{auto,off,N}",
        check=Check(
            lambda tile: tile in ("auto", "off") or (tile.isdigit() and int(tile) >= 1),
            "auto, off or a tile side in px",
        ),
        brief="`auto`, `off` or N: evaluate in tiles of N px, [exactly](docs/tiling.md)",
    )
    seed: int = option(
        INT,
        0,
        "random seed (noise init); same seed, backend and device: same output",
        check=ZERO_OR_MORE,
        brief="same seed, backend and device: same output",
    )
    save_every: int = option(
        INT,
        0,
        "write an intermediate image every N steps next to the output (out_0100.png); 0: never",
        check=ZERO_OR_MORE,
        brief="snapshots and progress every N steps",
    )
    print_every: int = option(
        INT, 10, "update the progress line every N steps", check=AT_LEAST_1, row_of="save_every"
    )
    ema: float = option(
        FLOAT,
        0.0,
        "return the exponential moving average of the iterates with this "
        "decay (bias-corrected, updated every step), 0 <= DECAY < 1; 0: off",
        metavar="DECAY",
        check=DECAY,
        brief="return the moving average of the iterates with this decay",
        brief_default="0 (off)",
    )
    normalize_network: bool = option(
        SWITCH,
        False,
        "rescale the VGG as the paper did: each filter's mean activation over the "
        "content and style images becomes 1 (the features change scale, so the "
        "loss weights' scale changes too)",
        brief="the paper's normalised VGG",
    )

    def __post_init__(self):
        declared = config_options()
        for o in declared:
            object.__setattr__(self, o.name, o.kind.check(o.name, getattr(self, o.name)))
        for o in declared:
            o.check_range(getattr(self, o.name))
        if self.scale_iterations is not None:
            _ = self.steps_per_scale  # checks one count per scale
        for layers, weights in (
            (self.content_layers, self.content_layer_weights),
            (self.style_layers, self.style_layer_weights),
        ):
            if weights is not None and len(weights) != len(layers):
                raise NstError(
                    f"{len(weights)} layer weights given for {len(layers)} layers ({', '.join(layers)})"
                )
        if not self.content_layers and not self.style_layers:
            raise NstError("no content and no style layers: nothing to optimise")
        if (self.mask or self.style_mask) and self.style_loss != "gram":
            raise NstError("--mask and --style-mask work with --style-loss gram only")

    @property
    def scale_sizes(self) -> tuple[int, ...]:
        """Longest side of each scale, coarsest first; the last is ``size``."""
        return scale_sizes(self.size, self.scales)

    @property
    def steps_per_scale(self) -> tuple[int, ...]:
        return scale_iterations(self.iterations, self.scale_iterations, len(self.scale_sizes))

    @property
    def step_size(self) -> float:
        if self.lr is not None:
            return self.lr
        return 1.0 if self.optimizer == "lbfgs" else 0.02

    @property
    def tile_side(self) -> int | None:
        """The forced tile side in px, None for 'auto' and 'off'."""
        return int(self.tile) if self.tile.isdigit() else None

    def run_settings(self) -> RunSettings:
        return RunSettings(
            self.optimizer, self.step_size, self.lbfgs_history, self.adam_beta2, self.ema, self.precision
        )

    def style_terms(self, size: int | None = None) -> tuple[tuple[str, float], ...]:
        """(layer, weight) of the style terms at the scale of longest side ``size`` (None: a
        finer scale). An explicit --style-layer-weights, or a normalisation other than
        'relative', holds at every scale; else the coarsest of several scales takes its style
        from blocks 1-3 only, where some style layer lies outside blocks 4 and 5 to carry it."""
        if self.style_layer_weights is not None or self.normalization != "relative":
            return layer_weights(self.style_layers, self.style_layer_weights, self.style_weight)
        layout = self._weights_by_block(LAYOUT_STYLE_BLOCKS)
        sizes = self.scale_sizes
        if len(sizes) > 1 and size == sizes[0] and sum(layout) > 0:
            return layer_weights(self.style_layers, layout, LAYOUT_STYLE_GAIN * self.style_weight)
        return layer_weights(
            self.style_layers, self._weights_by_block(TAPERED_STYLE_BLOCKS), self.style_weight
        )

    def _weights_by_block(self, by_block: dict[int, float]) -> tuple[float, ...]:
        blocks = (layer_block(name) for name in self.style_layers)
        return tuple(1.0 if block is None else by_block.get(block, 1.0) for block in blocks)

    def loss_spec(self, n_styles: int = 1) -> LossSpec:
        blend = self.style_blend or (1.0,) * n_styles
        if len(blend) != n_styles:
            raise NstError(f"--style-blend has {len(blend)} weights for {n_styles} style images")
        if sum(blend) <= 0:
            raise NstError("--style-blend weights sum to zero")
        return LossSpec(
            content=layer_weights(self.content_layers, self.content_layer_weights, self.content_weight),
            style=self.style_terms(),
            tv=self.tv_weight,
            normalization=self.normalization,
            style_loss=self.style_loss,
            style_blend=tuple(b / sum(blend) for b in blend),
        )


@cache
def config_options() -> tuple[Option, ...]:
    """Config's fields as the options they declare, in their order."""
    return tuple(replace(f.metadata["option"], name=f.name) for f in fields(Config))


def config_option(name: str) -> Option:
    return next(o for o in config_options() if o.name == name)


# Named sets of overrides. `gatys2016` is the paper's setting; `default` is Config's defaults.
PRESETS: dict[str, dict] = {
    "default": {},
    # Gram MSE with beta 1e6, 500 steps at one scale from the photo: the setting docs/quality.md
    # compares the defaults with.
    "mse": {
        "normalization": "mse",
        "content_layers": PAPER_CONTENT_LAYERS,
        "content_weight": 1.0,
        "style_weight": 1e6,
        "tv_weight": 0.0,
        "init": "content",
        "scales": 1,
        "iterations": 500,
    },
    "gatys2016": {
        "init": "noise",
        "optimizer": "lbfgs",
        "pooling": "avg",
        "normalization": "paper",
        "style_layers": STYLE_LAYERS,
        "content_layers": PAPER_CONTENT_LAYERS,
        # alpha/beta = 1e-3, the ratio of the paper's Figure 2 (its Figure 3 sweeps 1e-1..1e-4).
        "content_weight": 1.0,
        "style_weight": 1e3,
        "tv_weight": 0.0,
        "iterations": 1000,
        "scales": 1,  # the paper optimises at one size
    },
}


def make_config(preset: str = "default", **overrides) -> Config:
    if preset not in PRESETS:
        raise NstError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise NstError(f"unknown option {unknown[0]!r}")
    return replace(Config(), **{**PRESETS[preset], **overrides})
