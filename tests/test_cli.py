"""The `nst` command as a user meets it: messages, files written, and every bad input (what the
images hold is checked against the library in test_cli_outputs.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from nst import backend as backend_module
from nst.cli import main
from nst.weights.convert import to_torchvision
from tests.helpers import cli_files, write_image


@pytest.fixture
def files(tmp_path):
    return cli_files(tmp_path)


def run_cli(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stylize_args(files, *extra, backend="torch"):
    tmp, content, style, weights = files
    return [
        "stylize",
        content,
        style,
        "-o",
        tmp / "out.png",
        "--weights",
        weights,
        "--size",
        48,
        "--iterations",
        4,
        "--print-every",
        2,
        "--backend",
        backend,
        *extra,
    ]


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("nst: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_stylize_writes_output_of_requested_size(files, capsys, backend_name):
    tmp = files[0]
    code, out, err = run_cli(stylize_args(files, backend=backend_name), capsys)
    assert code == 0, err
    assert "wrote" in out
    assert "weights: tiny" in err or "weights:" in err
    with Image.open(tmp / "out.png") as result:
        assert max(result.size) == 48 and result.mode == "RGB"


@pytest.mark.parametrize(
    "file_name, extra, preprocessing",
    [
        (
            "tiny.safetensors",
            [],
            "torchvision (RGB in [0, 1], ImageNet mean/std), judged by its conv1_1 scale",
        ),
        ("vgg19-d01eb7cb.pth", [], "caffe (BGR in 0..255 minus the mean pixel), known by its file name"),
        (
            "vgg19-d01eb7cb.pth",
            ["--preprocess", "torchvision"],
            "torchvision (RGB in [0, 1], ImageNet mean/std), set by --preprocess",
        ),
    ],
)
def test_weights_line_names_the_preprocessing(files, capsys, file_name, extra, preprocessing):
    """neural-style-pt's Caffe VGG19 is known by its name; here the tiny VGG is saved under it."""
    torch = pytest.importorskip("torch")
    tmp, weights = files[0], files[3]
    if file_name.endswith(".pth"):
        state = to_torchvision(load_file(str(weights)))
        torch.save({key: torch.from_numpy(value) for key, value in state.items()}, tmp / file_name)
    args = stylize_args(files, *extra)
    args[args.index("--weights") + 1] = tmp / file_name
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("nst: weights:")]
    assert len(lines) == 1 and f"; preprocessing: {preprocessing}" in lines[0], err


def test_init_from_a_file_and_two_blended_styles(files, capsys, backend_name):
    tmp, content, style, _ = files
    second = write_image(tmp / "style2.png", 30, 50, seed=3)
    args = stylize_args(files, "--init", str(content), "--style-blend", "0.3,0.7", backend=backend_name)
    args.insert(3, second)
    code, _, err = run_cli(args, capsys)
    assert code == 0, err


def test_save_every_writes_intermediate_images(files, capsys, backend_name):
    tmp = files[0]
    code, _, err = run_cli(stylize_args(files, "--save-every", 2, backend=backend_name), capsys)
    assert code == 0, err
    assert (tmp / "out_0002.png").exists()
    assert (tmp / "out.png").exists()
    assert not (tmp / "out_0004.png").exists()  # the last step is the output itself


def test_same_seed_same_backend_same_bytes(files, capsys, backend_name):
    tmp = files[0]
    outputs = []
    for name in ("a.png", "b.png"):
        args = stylize_args(files, "--init", "noise", "--seed", 7, backend=backend_name)
        args[args.index("-o") + 1] = tmp / name
        assert run_cli(args, capsys)[0] == 0
        outputs.append((tmp / name).read_bytes())
    assert outputs[0] == outputs[1]


def test_help_lists_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["stylize", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--backend",
        "--size",
        "--iterations",
        "--content-weight",
        "--style-weight",
        "--tv-weight",
        "--content-layers",
        "--style-layers",
        "--init",
        "--optimizer",
        "--lr",
        "--pooling",
        "--weights",
        "--device",
        "--seed",
        "--save-every",
        "--print-every",
        "--preset",
        "gatys2016",
        "--colors",
        "--style-scale",
        "--style-loss",
        "--ema",
        "--normalize-network",
        "--adam-beta2",
        "--preprocess",
    ):
        assert flag in text
    assert "(default: 512)" in text


@pytest.mark.parametrize(
    "mutate, fragments",
    [
        (lambda a, t: a.__setitem__(1, t / "missing.png"), ["missing.png"]),
        (lambda a, t: a.__setitem__(1, t), [str(Path("x")).strip("x")]),  # a directory
        (lambda a, t: a.__setitem__(2, _text_file(t)), ["notes.png"]),
        (lambda a, t: a.__setitem__(2, _truncated_png(t)), ["truncated.png"]),
        (lambda a, t: a.extend(["--size", "8"]), ["px"]),
        (lambda a, t: a.extend(["--init", "noise", "--scales", "4"]), ["at 17 px", "fewer --scales"]),
        (lambda a, t: a.extend(["--style-layers", "relu9_9"]), ["relu9_9"]),
        (lambda a, t: a.extend(["--style-weight", "-1"]), ["--style-weight"]),
        (lambda a, t: a.extend(["--content-weight", "abc"]), ["abc"]),
        (lambda a, t: a.extend(["--iterations", "0"]), ["--iterations"]),
        (lambda a, t: a.extend(["--style-blend", "1,2"]), ["--style-blend"]),
        (lambda a, t: a.extend(["--style-layer-weights", "1,2"]), ["layer weights"]),
        (lambda a, t: a.__setitem__(4, t / "no_such_dir" / "out.png"), ["no_such_dir"]),
        (lambda a, t: a.__setitem__(4, _text_file(t) / "out.png"), ["notes.png"]),
        (lambda a, t: a.__setitem__(4, t / "out.gif2"), [".gif2"]),
        (lambda a, t: a.extend(["--backend", "tensorflow"]), ["tensorflow"]),
        (lambda a, t: a.extend(["--device", "quantum"]), ["quantum"]),
        (lambda a, t: a.extend(["--device", "cuda:7"]), ["cuda:7"]),
        (lambda a, t: a.extend(["--weights", t / "nothing.pth"]), ["nothing.pth"]),
        (lambda a, t: a.extend(["--weights", _bad_weights(t)]), ["bad.safetensors"]),
        (lambda a, t: a.extend(["--init", t / "nope.png"]), ["nope.png"]),
        (lambda a, t: a.extend(["--preset", "picasso"]), ["picasso"]),
        (lambda a, t: a.extend(["--colors", "sepia"]), ["--colors", "sepia"]),
        (lambda a, t: a.extend(["--preprocess", "bgr"]), ["--preprocess", "bgr"]),
        (lambda a, t: a.extend(["--style-scale", "0"]), ["--style-scale"]),
        (lambda a, t: a.extend(["--style-scale", "0.1"]), ["style image", "style.png", "--style-scale"]),
        (lambda a, t: a.extend(["--style-loss", "histogram"]), ["histogram"]),
        (lambda a, t: a.extend(["--ema", "1"]), ["--ema"]),
        (lambda a, t: a.extend(["--ema", "-0.1"]), ["--ema"]),
        (lambda a, t: a.extend(["--ema", "nan"]), ["--ema"]),
        (lambda a, t: a.extend(["--ema", "fast"]), ["fast"]),
        (lambda a, t: a.extend(["--adam-beta2", "1"]), ["--adam-beta2"]),
        (lambda a, t: a.extend(["--init", "noise", "--seed", "-1"]), ["--seed"]),
        (lambda a, t: a.extend(["--normalize-network", "yes"]), ["yes"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, capsys, mutate, fragments):
    args = stylize_args(files)
    mutate(args, files[0])
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, *fragments)


def test_bad_input_never_touches_existing_output(files, capsys):
    tmp = files[0]
    (tmp / "out.png").write_bytes(b"previous result")
    args = stylize_args(files, "--style-layers", "nope")
    assert run_cli(args, capsys)[0] == 2
    assert (tmp / "out.png").read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp.iterdir() if p.name.startswith("out")) == ["out.png"]


def _allocation_failure(backend_name: str) -> Exception:
    """The framework's own error for an allocation no machine can make (2**45 bytes: 32 TiB)."""
    try:
        if backend_name == "torch":
            import torch

            torch.empty(2**45, dtype=torch.uint8)
        else:
            import jax.numpy as jnp

            jnp.zeros(2**45, jnp.uint8).block_until_ready()
    except RuntimeError as error:
        return error
    pytest.fail("a 32 TiB allocation succeeded")


def test_running_out_of_memory_is_one_line_and_keeps_the_output(files, capsys, monkeypatch, backend_name):
    error = _allocation_failure(backend_name)
    backend = backend_module.get_backend(backend_name)
    assert backend.is_out_of_memory(error)
    assert not backend.is_out_of_memory(RuntimeError("shapes do not match"))

    def start(*args):
        raise error

    monkeypatch.setattr(backend, "start", start)
    (files[0] / "out.png").write_bytes(b"previous result")
    code, _, err = run_cli(stylize_args(files, backend=backend_name), capsys)
    assert_one_line_error(code, err, "out of memory on cpu", "--size 48")
    assert (files[0] / "out.png").read_bytes() == b"previous result"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="caps memory with Linux's RLIMIT_AS")
def test_a_size_too_large_for_memory_is_one_line(files):
    # The child caps its own address space at 4 GiB (enough to import torch and run, not for
    # a 40000 px image) before it runs the CLI.
    # nst.memory's estimate would refuse the size before any allocation: it is switched off.
    capped_cli = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30)); "
        "import nst.memory; nst.memory.machine_memory_bytes = lambda: None; "
        "from nst.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    args = [str(a) for a in stylize_args(files, "--size", 40000)]
    done = subprocess.run(
        [sys.executable, "-c", capped_cli, *args], capture_output=True, text=True, timeout=300
    )
    # Numpy (on the host) or the framework (on cpu) fails first, at whichever scale outgrows 4 GiB.
    assert_one_line_error(done.returncode, done.stderr, "out of memory on", "--size 40000")
    assert not (files[0] / "out.png").exists()


def test_a_cpu_run_larger_than_the_machine_is_refused_before_it_starts(
    files, capsys, monkeypatch, backend_name
):
    from nst import memory

    monkeypatch.setattr(memory, "machine_memory_bytes", lambda: memory.GIB // 2)
    (files[0] / "out.png").write_bytes(b"previous result")
    code, _, err = run_cli(stylize_args(files, "--tile", "off", backend=backend_name), capsys)
    assert_one_line_error(
        code,
        err,
        "--size 48 (48x34 px) needs about 0.9 GiB on the CPU",
        "has 0.5 GiB",
        "use --tile auto or a smaller --size",
    )
    assert (files[0] / "out.png").read_bytes() == b"previous result"
    # Tiled, what the whole image keeps (L-BFGS's history, the image) still does not fit.
    code, _, err = run_cli(stylize_args(files, backend=backend_name), capsys)
    assert_one_line_error(code, err, "even in tiles of 256 px", "--optimizer adam or a smaller --size")
    assert (files[0] / "out.png").read_bytes() == b"previous result"
    # Not estimated off the CPU: a GPU run gets as far as asking for the GPU (or runs, on one).
    _, _, err = run_cli(stylize_args(files, "--device", "gpu", backend=backend_name), capsys)
    assert "needs about" not in err


@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "--tile must be auto, off or a tile side in px"),
        ("big", "--tile must be auto, off"),
        ("8", "--tile 8 is smaller than the network's grid of 16 px"),
    ],
)
def test_bad_tile_values_end_in_one_line(files, capsys, value, message):
    code, _, err = run_cli(stylize_args(files, "--tile", value), capsys)
    assert_one_line_error(code, err, message)


def test_backend_not_installed_names_the_extra(files, capsys, monkeypatch):
    monkeypatch.setitem(backend_module.REGISTRY, "torch", ("nst.backends.not_there", "torch"))
    monkeypatch.setattr(backend_module, "_loaded", {})
    code, _, err = run_cli(stylize_args(files), capsys)
    assert_one_line_error(code, err, "pip install 'nst[torch]'")


def test_grayscale_palette_rgba_cmyk_and_16_bit_inputs_are_converted(files, capsys):
    tmp, content, _, _ = files
    rgb = Image.open(content).convert("RGB")
    variants = {
        "gray.png": rgb.convert("L"),
        "palette.png": rgb.convert("P"),
        "rgba.png": rgb.convert("RGBA"),
        "cmyk.jpg": rgb.convert("CMYK"),
        "deep.png": rgb.convert("L").point(lambda v: v * 256).convert("I;16"),
    }
    for name, picture in variants.items():
        picture.save(tmp / name)
        args = stylize_args(files)
        args[1] = tmp / name
        code, _, err = run_cli(args, capsys)
        assert code == 0, (name, err)


def test_ctrl_c_writes_current_image_and_exits_130(files):
    tmp, content, style, weights = files
    command = [
        sys.executable,
        "-m",
        "nst.cli",
        "stylize",
        str(content),
        str(style),
        "-o",
        str(tmp / "out.png"),
        "--weights",
        str(weights),
        "--size",
        "48",
        "--iterations",
        "1000000",
        "--print-every",
        "1",
        "--optimizer",
        "adam",
    ]
    # A suite started in the background (`.ci/run &`) has SIGINT ignored, which a child inherits
    # and Python then never turns into KeyboardInterrupt. A Python-level handler is not
    # inherited (exec resets it to the default), so one is set while the child starts.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    seen = ""
    deadline = time.monotonic() + 120
    while "total=" not in seen and time.monotonic() < deadline:  # the first chunk has run
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGINT)
    try:
        _, rest = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"no exit within 60 s of Ctrl-C; output before it: {seen[-300:]}")
    assert process.returncode == 130, seen + rest
    assert "interrupted" in rest and str(tmp / "out.png") in rest
    assert "Traceback" not in rest
    with Image.open(tmp / "out.png") as result:
        assert max(result.size) == 48


def test_info_and_layers_and_weights_list(capsys):
    code, out, _ = run_cli(["info"], capsys)
    assert code == 0 and "backend torch" in out
    code, out, _ = run_cli(["layers", "--arch", "vgg16"], capsys)
    assert code == 0 and "relu4_2" in out and "conv5_4" not in out
    code, out, _ = run_cli(["weights", "list"], capsys)
    assert code == 0 and "vgg19" in out and "vgg16-offline" in out


def _text_file(tmp: Path) -> Path:
    path = tmp / "notes.png"
    path.write_text("not an image")
    return path


def _truncated_png(tmp: Path) -> Path:
    source = write_image(tmp / "whole.png", 64, 64, seed=5).read_bytes()
    path = tmp / "truncated.png"
    path.write_bytes(source[: len(source) // 2])
    return path


def _bad_weights(tmp: Path) -> Path:
    from safetensors.numpy import save_file

    path = tmp / "bad.safetensors"
    save_file({"conv1_1.weight": np.zeros((3, 3, 3, 3), np.float32)}, str(path))
    return path
