"""`nst batch` and `nst.batch`: the job list, the manifest, resuming, failures that stay local,
exit codes, and the executors that run on this machine (Ray's: tests/test_batch_ray.py)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import nst
from nst.batching.jobs import build_jobs
from nst.batching.manifest import Manifest
from nst.cli import main
from nst.options.config import make_config
from tests.batch_outputs import (
    OTHER_PROCESS_ROUNDING,
    assert_outputs_are,
    assert_same_pixels,
    cli_options,
    library_results,
    written_pixels,
)
from tests.helpers import tiny_weights_file, write_image

# The tiny VGG's first two blocks at 48 px, two steps: Config fields, and as the CLI takes them.
TINY = {"size": 48, "iterations": 2, "content_layers": ("relu2_1",), "style_layers": ("relu1_1", "relu2_1")}
TINY_RUN = cli_options(TINY)


@pytest.fixture
def photos(tmp_path):
    """A folder of three photos, two style images and the tiny VGG."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(3):
        write_image(folder / f"p{index}.png", 40, 56, seed=index)
    (folder / "notes.txt").write_text("not an image, and not named like one: skipped")
    write_image(tmp_path / "starry.png", 48, 48, seed=5)
    write_image(tmp_path / "wave.jpg", 48, 40, seed=6)
    return tmp_path


def run_batch(tmp: Path, *args, capsys):
    argv = ["batch", *args, "--weights", tiny_weights_file(tmp), *TINY_RUN]
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def entries(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def assert_usage_error(code, err, fragment):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nst: error:"), err
    assert fragment in lines[0], lines[0]


def test_folder_crossed_with_styles_writes_every_pair(photos, capsys):
    out = photos / "out"
    code, stdout, err = run_batch(
        photos,
        photos / "photos",
        "-s",
        photos / "starry.png",
        "-s",
        photos / "wave.jpg",
        "-o",
        out,
        capsys=capsys,
    )
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    expected = sorted(f"p{i}--{s}.png" for i in range(3) for s in ("starry", "wave"))
    assert names == sorted([*expected, "manifest.jsonl"])
    with Image.open(out / "p0--wave.png") as image:
        assert image.size == (48, 34)
    records = entries(out)
    assert len(records) == 6 and "6 written, 0 done already, 0 failed" in stdout
    record = records[0]
    assert record["error"] is None and record["steps"] == 2 and record["seconds"] > 0
    assert set(record["losses"]) == {"content", "style", "tv", "total"}
    assert record["settings"]["backend"] == "torch" and record["settings"]["iterations"] == 2
    assert record["content"].endswith("p0.png") and record["styles"][0].endswith("starry.png")


def test_second_run_skips_overwrite_and_changed_settings_redo(photos, capsys):
    out = photos / "out"
    args = [
        photos / "photos" / "p0.png",
        photos / "photos" / "p1.png",
        "-s",
        photos / "starry.png",
        "-o",
        out,
    ]
    assert run_batch(photos, *args, capsys=capsys)[0] == 0
    first = {p: p.stat().st_mtime_ns for p in out.glob("*.png")}

    code, stdout, err = run_batch(photos, *args, capsys=capsys)
    assert code == 0 and "0 written, 2 done already" in stdout and "--overwrite redoes" in err
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.png")} == first

    assert "2 written, 0 done already" in run_batch(photos, *args, "--overwrite", capsys=capsys)[1]
    assert "2 written, 0 done already" in run_batch(photos, *args, "--style-weight", 10, capsys=capsys)[1]
    # A changed input under the same name redoes its own output only.
    write_image(photos / "photos" / "p1.png", 40, 56, seed=9)
    assert "1 written, 1 done already" in run_batch(photos, *args, "--style-weight", 10, capsys=capsys)[1]
    # Where a run happens and how it reports do not change the result: still done.
    again = run_batch(
        photos, *args, "--style-weight", 10, "--device", "cpu", "--print-every", 1, capsys=capsys
    )
    assert "0 written, 2 done already" in again[1]


def test_an_output_deleted_after_its_entry_is_redone(photos, capsys):
    out = photos / "out"
    args = [photos / "photos" / "p0.png", "-s", photos / "starry.png", "-o", out]
    run_batch(photos, *args, capsys=capsys)
    (out / "p0--starry.png").unlink()
    assert "1 written, 0 done already" in run_batch(photos, *args, capsys=capsys)[1]


def test_broken_and_too_small_images_fail_alone(photos, capsys):
    folder = photos / "photos"
    (folder / "broken.png").write_bytes(b"this is not a png")
    write_image(folder / "sliver.png", 2, 200, seed=3)  # 1 px tall at 48 px: too small
    out = photos / "out"
    code, stdout, err = run_batch(photos, folder, "-s", photos / "starry.png", "-o", out, capsys=capsys)
    assert code == 1
    assert "3 written, 0 done already, 2 failed" in stdout
    failures = [line for line in err.splitlines() if line.startswith("nst: failed:")]
    assert len(failures) == 2 and "Traceback" not in err
    assert any("broken--starry.png" in line and "not an image" in line for line in failures)
    assert any("sliver--starry.png" in line and "at least" in line for line in failures)
    errors = {Path(e["output"]).name: e["error"] for e in entries(out) if e["error"]}
    assert set(errors) == {"broken--starry.png", "sliver--starry.png"}
    assert not (out / "broken--starry.png").exists()
    assert all((out / f"p{i}--starry.png").is_file() for i in range(3))
    # A resumed run retries the failures only.
    assert (
        "0 written, 3 done already, 2 failed"
        in run_batch(photos, folder, "-s", photos / "starry.png", "-o", out, capsys=capsys)[1]
    )


def test_pairs_zip_and_a_glob_and_another_format(photos, capsys):
    write_image(photos / "second-style.png", 48, 48, seed=7)
    out = photos / "out"
    code, _, err = run_batch(
        photos,
        photos / "photos" / "p[01].png",
        "-s",
        photos / "starry.png",
        "-s",
        photos / "second-style.png",
        "--pairs",
        "zip",
        "--format",
        "jpg",
        "-o",
        out,
        capsys=capsys,
    )
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.jpg")) == ["p0--starry.jpg", "p1--second-style.jpg"]


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("missing content", "no such content file or folder"),
        ("empty glob", "matches no image file"),
        ("empty folder", "holds no image file"),
        ("output is a file", "is a file"),
        ("missing style", "no such style file or folder"),
        ("style not an image", "not an image"),
        ("zip counts differ", "--pairs zip needs as many styles"),
        ("bad format", "--format must be one of"),
        ("same output twice", "would both write"),
        ("ray not installed", "pip install 'nst[ray]'"),
        ("device list with ray", "--device chooses local workers"),
        ("no such device", "unknown device"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_anything_runs(photos, capsys, monkeypatch, case, fragment):
    folder, style, out = photos / "photos", photos / "starry.png", photos / "out"
    (photos / "empty").mkdir()
    (photos / "a-file").write_text("x")
    (photos / "sub").mkdir()
    write_image(photos / "sub" / "p0.jpg", 40, 40)
    (photos / "text.png").write_text("not an image")
    args = {
        "missing content": [photos / "nope.png", "-s", style, "-o", out],
        "empty glob": [photos / "*.gif", "-s", style, "-o", out],
        "empty folder": [photos / "empty", "-s", style, "-o", out],
        "output is a file": [folder, "-s", style, "-o", photos / "a-file"],
        "missing style": [folder, "-s", photos / "nope.jpg", "-o", out],
        "style not an image": [folder, "-s", photos / "text.png", "-o", out],
        "zip counts differ": [folder, "-s", style, "--pairs", "zip", "-o", out],
        "bad format": [folder, "-s", style, "--format", "gif", "-o", out],
        "same output twice": [folder / "p0.png", photos / "sub", "-s", style, "-o", out],
        "ray not installed": [folder, "-s", style, "-o", out, "--ray", "auto"],
        "device list with ray": [folder, "-s", style, "-o", out, "--ray", "auto", "--device", "cpu,cpu"],
        "no such device": [folder, "-s", style, "-o", out, "--device", "cpu,npu"],
    }[case]
    if case == "ray not installed":
        monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, stdout, err = run_batch(photos, *args, capsys=capsys)
    assert_usage_error(code, err, fragment)
    assert not list(photos.glob("out/*")) and stdout == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_unreadable_folder_is_a_usage_error(photos, capsys):
    locked = photos / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        code, _, err = run_batch(
            photos, locked, "-s", photos / "starry.png", "-o", photos / "out", capsys=capsys
        )
    finally:
        locked.chmod(0o755)
    assert_usage_error(code, err, f"cannot read the content folder {locked}: Permission denied")


def test_unreadable_folder_is_a_usage_error_as_root_too(photos, capsys, monkeypatch):
    # Root reads any folder, and CI runs as root: the folder's listing is refused instead.
    locked = photos / "locked"
    locked.mkdir()
    write_image(locked / "p0.png")
    listdir = os.listdir

    def refuse_locked(path="."):
        if Path(path) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", refuse_locked)
    code, _, err = run_batch(photos, locked, "-s", photos / "starry.png", "-o", photos / "out", capsys=capsys)
    assert_usage_error(code, err, f"cannot read the content folder {locked}: Permission denied")


def test_library_call_reports_and_calls_back(photos):
    seen = []
    report = nst.batch(
        photos / "photos",
        photos / "starry.png",
        photos / "out",
        weights=str(tiny_weights_file(photos)),
        size=48,
        iterations=2,
        content_layers=("relu2_1",),
        style_layers=("relu1_1", "relu2_1"),
        on_entry=seen.append,
    )
    assert report.ok and report.total == 3 and report.succeeded == 3 and report.skipped == 0
    assert [e["output"] for e in seen] == [e["output"] for e in entries(photos / "out")]


def test_manifest_skips_a_torn_last_line(tmp_path):
    cfg = make_config(size=48)
    write_image(tmp_path / "c.png")
    write_image(tmp_path / "s.png", seed=1)
    (job,) = build_jobs([str(tmp_path / "c.png")], [str(tmp_path / "s.png")], tmp_path, cfg, "torch")
    Image.new("RGB", (4, 4)).save(job.output)
    good = json.dumps({"output": job.output, "key": job.key, "error": None})
    (tmp_path / "manifest.jsonl").write_text(good + "\n" + '{"output": "x", "key')
    assert Manifest(tmp_path).is_done(job)


def test_each_written_image_is_the_library_result_for_its_pair(photos, capsys):
    folder, styles = photos / "photos", (photos / "starry.png", photos / "wave.jpg")
    contents = (folder / "p0.png", folder / "p1.png")
    pairs = {f"{c.stem}--{s.stem}.png": (c, s) for c in contents for s in styles}
    expected = library_results(pairs, {**TINY, "weights": str(tiny_weights_file(photos)), "device": "cpu"})
    executors = [
        ("cpu", "this process", 0),
        ("cpu,cpu", "2 worker processes (cpu, cpu)", OTHER_PROCESS_ROUNDING),
    ]
    for devices, where, rounding in executors:
        out = photos / devices
        args = [*contents, "-s", styles[0], "-s", styles[1], "-o", out, "--device", devices]
        code, stdout, err = run_batch(photos, *args, capsys=capsys)
        assert code == 0 and "4 written" in stdout and f"on {where}" in err, err
        assert_outputs_are(out, expected, rounding)


def test_two_worker_processes_share_the_jobs(photos, capsys):
    out = photos / "out"
    code, stdout, err = run_batch(
        photos,
        photos / "photos",
        "-s",
        photos / "starry.png",
        "-o",
        out,
        "--device",
        "cpu,cpu",
        capsys=capsys,
    )
    assert code == 0, err
    assert "2 worker processes (cpu, cpu)" in err and "3 written" in stdout
    records = entries(out)
    assert all(e["error"] is None and e["worker"]["pid"] != os.getpid() for e in records)
    assert len({e["worker"]["pid"] for e in records}) <= 2
    assert sorted(p.name for p in out.glob("*.png")) == [f"p{i}--starry.png" for i in range(3)]


def test_a_killed_batch_leaves_whole_outputs_and_resumes(photos):
    folder = photos / "photos"
    for index in range(3, 8):
        write_image(folder / f"p{index}.png", 40, 56, seed=index)
    out = photos / "out"
    command = [sys.executable, "-m", "nst.cli", "batch", folder, "-s", photos / "starry.png", "-o", out]
    command += ["--weights", tiny_weights_file(photos), *TINY_RUN]
    command = [str(part) for part in command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 60
    while not (manifest.exists() and manifest.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {e["output"] for e in entries(out)}
    assert 2 <= len(finished) < 8
    # Every output there is a whole image; a write the kill cut short is a hidden temporary
    # (one is planted for an output still to do, in case the kill fell between writes).
    unfinished = sorted({f"p{i}--starry" for i in range(8)} - {Path(o).stem for o in finished})
    (out / f".{unfinished[0]}-k1ll3d00.png").write_bytes(b"\x89PNG cut short")
    for path in out.glob("[!.]*.png"):
        with Image.open(path) as image:
            image.load()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{len(finished)} done already" in done.stdout
    # The rerun wrote the rest and removed what the killed writes left.
    assert sorted(path.name for path in out.glob("*.png")) == [f"p{i}--starry.png" for i in range(8)]


def test_import_nst_does_not_import_ray_or_tqdm(tmp_path):
    code = "import sys, nst, nst.cli; assert not {'ray', 'torch', 'tqdm'} & set(sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_a_batched_run_matches_one_image_at_a_time(photos, capsys):
    folder = photos / "photos"
    write_image(folder / "wide.png", 40, 80, seed=4)  # another shape: a batch of its own
    (folder / "broken.png").write_bytes(b"not an image")
    # Adam: an L-BFGS line search can turn the last-digit rounding of a batched convolution
    # into another step (tests/test_batched_step.py); Adam's steps are per pixel. Two scales
    # under 'relative': each photo has its own weights at each scale.
    common = [folder, "-s", photos / "starry.png", "--optimizer", "adam", "--scales", 2]
    assert run_batch(photos, *common, "-o", photos / "one", capsys=capsys)[0] == 1
    code, stdout, err = run_batch(photos, *common, "-o", photos / "many", "--batch-size", 8, capsys=capsys)
    assert code == 1 and "4 written, 0 done already, 1 failed" in stdout, err
    alone = {Path(e["output"]).name: e for e in entries(photos / "one")}
    batched = {Path(e["output"]).name: e for e in entries(photos / "many")}
    assert batched["broken--starry.png"]["error"] and batched["wide--starry.png"]["batch"] == 1
    for name in (f"p{i}--starry.png" for i in range(3)):
        assert (
            batched[name]["batch"] == 3 and batched[name]["steps"] == alone[name]["steps"] == 2 + 1
        )  # the coarse scale's --iterations 2, then half as many
        for term in ("content", "style", "total"):
            assert batched[name]["losses"][term] == pytest.approx(alone[name]["losses"][term], rel=1e-4)
        # Each image of the batch went to its own photo's output: as alone, up to a batched
        # convolution's rounding; the photos' results differ by far more.
        written = {run: written_pixels(photos / run / name) for run in ("one", "many")}
        assert_same_pixels(written["many"], written["one"], rounding=1, what=name)
    first, second = (written_pixels(photos / "one" / f"p{i}--starry.png") for i in (0, 1))
    assert abs(first - second).mean() > 2


def test_auto_batch_size_fills_the_free_memory_up_to_a_limit():
    from nst.batching.worker import AUTO_BATCH_LIMIT, auto_batch_size

    assert auto_batch_size(10 * 2**30, 2**30) == 8
    assert auto_batch_size(2**30, 2**31) == 1
    assert auto_batch_size(2**40, 2**20) == AUTO_BATCH_LIMIT
    assert auto_batch_size(2**30, None) == 1


@pytest.mark.parametrize("value", ["0", "many"])
def test_a_bad_batch_size_is_a_usage_error(photos, capsys, value):
    args = [photos / "photos", "-s", photos / "starry.png", "-o", photos / "out", "--batch-size", value]
    code, _, err = run_batch(photos, *args, capsys=capsys)
    assert_usage_error(code, err, "batch-size")
