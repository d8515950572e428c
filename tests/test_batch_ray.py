"""`nst batch --ray` on a local Ray instance (two CPUs, nothing external): every output
written once, also when a worker is killed mid-batch; the images the actors or the driver
(--ray-return) write, each the library's result for its pair; an unreachable cluster. One
ray.init serves the module: Ray starts slowly."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

import nst
from nst.cli import main
from tests.batch_outputs import OTHER_PROCESS_ROUNDING, assert_outputs_are, cli_options, library_results
from tests.helpers import tiny_weights_file, write_image

# Ray starts its processes by fork and exec; JAX, imported by earlier tests in this process,
# warns at every fork although exec follows at once.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

ray = pytest.importorskip("ray")

TINY = {
    "size": 48,
    "iterations": 2,
    "content_layers": ("relu2_1",),
    "style_layers": ("relu1_1", "relu2_1"),
    "device": "auto",
}


@pytest.fixture(scope="module")
def local_ray():
    # No GPU, also where there is one: one actor per CPU.
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(32):
        write_image(folder / f"p{index:02d}.png", 24, 32, seed=index)
    write_image(tmp_path / "starry.png", 32, 32, seed=99)
    return tmp_path


def ok_entries(out: Path) -> list[dict]:
    lines = (out / "manifest.jsonl").read_text().splitlines()
    return [entry for entry in map(json.loads, lines) if entry["error"] is None]


def test_32_images_each_written_once_when_a_worker_is_killed(local_ray, photos):
    out = photos / "out"
    killed: list[int] = []

    def kill_one_worker(entry):
        # The worker that reported first dies before its next job: that job goes elsewhere.
        if not killed:
            killed.append(entry["worker"]["pid"])
            os.kill(entry["worker"]["pid"], signal.SIGKILL)

    report = nst.batch(
        photos / "photos",
        photos / "starry.png",
        out,
        ray="auto",
        weights=str(tiny_weights_file(photos)),
        on_entry=kill_one_worker,
        **TINY,
    )
    assert report.ok and report.succeeded == 32, report.failed
    outputs = [entry["output"] for entry in ok_entries(out)]
    assert len(outputs) == len(set(outputs)) == 32
    assert sorted(p.name for p in out.glob("*.png")) == [f"p{i:02d}--starry.png" for i in range(32)]
    pids = {entry["worker"]["pid"] for entry in ok_entries(out)}
    assert killed[0] in pids and len(pids) == 2  # the survivor finished the batch
    assert any(entry.get("attempts") == 2 for entry in ok_entries(out))


def test_driver_writes_what_workers_return(local_ray, photos, capsys):
    folder = photos / "photos"
    (folder / "broken.png").write_bytes(b"not a png")
    out = photos / "out"
    argv = [
        "batch",
        folder / "p00.png",
        folder / "p01.png",
        folder / "broken.png",
        "-s",
        photos / "starry.png",
    ]
    argv += [
        "-o",
        out,
        "--ray",
        "auto",
        "--ray-return",
        "--batch-size",
        2,
        "--weights",
        tiny_weights_file(photos),
    ]
    argv += ["--size", 48, "--iterations", 2, "--content-layers", "relu2_1", "--style-layers", "relu1_1"]
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "2 written, 0 done already, 1 failed" in captured.out
    # The worker read a copy of the bytes; its message names the user's file.
    assert f"{folder / 'broken.png'} is not an image" in captured.err
    assert sorted(p.name for p in out.glob("*.png")) == ["p00--starry.png", "p01--starry.png"]


def test_each_written_image_is_the_library_result_for_its_pair(local_ray, photos, capsys):
    folder = photos / "photos"
    contents = (folder / "p00.png", folder / "p01.png")
    styles = (photos / "starry.png", write_image(photos / "wave.png", 40, 32, seed=98))
    pairs = {f"{c.stem}--{s.stem}.png": (c, s) for c in contents for s in styles}
    settings = {name: value for name, value in TINY.items() if name != "device"}  # Ray places workers
    weights = tiny_weights_file(photos)
    expected = library_results(pairs, {**settings, "weights": str(weights), "device": "cpu"})
    for writer, options in (("actors", []), ("driver", ["--ray-return"])):
        out = photos / writer
        argv = ["batch", *contents, "-s", styles[0], "-s", styles[1], "-o", out, "--ray", "auto"]
        argv += ["--weights", weights, *cli_options(settings), *options]
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        assert code == 0 and "4 written" in captured.out, captured.err
        assert_outputs_are(out, expected, OTHER_PROCESS_ROUNDING)


def test_an_unreachable_cluster_is_one_line_and_exit_2(photos, capsys):
    argv = ["batch", photos / "photos", "-s", photos / "starry.png", "-o", photos / "out"]
    code = main([str(a) for a in [*argv, "--ray", "127.0.0.1:1"]])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in err
