"""The studio's JSON API on the tiny network: jobs submitted, watched, stopped, continued and
queued; bad uploads and settings refused with one line; a failed job beside a good one; a
killed server's job interrupted with its snapshot kept; the token off loopback."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from nst.cli import main as nst_main  # noqa: E402
from nst.serve.app import Studio, create_app  # noqa: E402
from nst.serve.command import token_for  # noqa: E402
from nst.serve.uploads import UploadLimits  # noqa: E402
from tests.helpers import SHALLOW, tiny_weights_file, write_image  # noqa: E402

# A 64 px run of the tiny network's first two blocks: each step takes milliseconds.
QUICK = {"size": 64, "iterations": 8}
LONG = {"size": 64, "iterations": 100000}  # runs until stopped
WAIT = 60.0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-inputs")
    return {
        "content": write_image(folder / "photo.png", 48, 64, seed=1).read_bytes(),
        "style": write_image(folder / "painting.png", 64, 64, seed=2).read_bytes(),
        "weights": tiny_weights_file(folder),
    }


@contextmanager
def studio(data: Path, files, **options):
    defaults = {"weights": str(files["weights"]), **SHALLOW}
    with TestClient(create_app(Studio(data, defaults=defaults, **options))) as client:
        yield client


def submit(client, files, settings, content_name="photo.png", styles=1, **form):
    uploads = [("content", (content_name, files["content"], "image/png"))] if content_name else []
    uploads += [("style", (f"painting{i}.png", files["style"], "image/png")) for i in range(styles)]
    return client.post("/api/jobs", files=uploads, data={"settings": json.dumps(settings), **form})


def wait_for(client, job_id, done, what):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if done(job):
            return job
        time.sleep(0.05)
    pytest.fail(f"job {job_id} never {what}: {job}")


def finished(client, job_id):
    return wait_for(client, job_id, lambda job: job["state"] not in ("queued", "running"), "finished")


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def test_two_watchers_see_a_job_form_live_and_one_leaving_does_not_stop_it(tmp_path, files):
    with studio(tmp_path / "data", files) as client:
        # A job ahead holds the queue until both watchers are there, so they see it all.
        ahead = submit(client, files, LONG).json()["id"]
        wait_for(client, ahead, lambda job: job["state"] == "running", "started")
        job_id = submit(client, files, LONG).json()["id"]
        steps, frames, records = [], [], []
        with client.websocket_connect(f"/api/jobs/{job_id}/live") as first:
            with client.websocket_connect(f"/api/jobs/{job_id}/live") as second:
                assert second.receive_json()["job"]["position"] == 1
                client.delete(f"/api/jobs/{ahead}")
                deadline = time.monotonic() + WAIT
                while True:
                    assert time.monotonic() < deadline, f"saw {len(frames)} frames, steps {steps}"
                    message = second.receive()
                    if message["type"] == "websocket.close":
                        break
                    if message.get("bytes") is not None:
                        frames.append(message["bytes"])
                        if len(frames) == 1:
                            first.close()  # a watcher leaving does not stop the job
                        continue
                    body = json.loads(message["text"])
                    if body["type"] == "job":
                        records.append(body["job"])
                    elif "step" in body:
                        steps.append(body["step"])
                    if len(frames) >= 2 and len(set(steps)) >= 3 and records[-1]["state"] == "running":
                        client.delete(f"/api/jobs/{job_id}")
        assert [record["state"] for record in records][-2:] == ["running", "stopped"]
        assert steps == sorted(steps) and steps[-1] <= records[-1]["step"] < records[-1]["total"]
        assert {Image.open(io.BytesIO(frame)).format for frame in frames} == {"JPEG"}
        assert Image.open(io.BytesIO(frames[-1])).size == (64, 48)
        assert client.get(f"/api/jobs/{job_id}").json()["has_image"]


def test_the_settings_sidecar_replays_the_job_with_nst_stylize(tmp_path, files, monkeypatch):
    with studio(tmp_path / "data", files) as client:
        job_id = submit(client, files, {**QUICK, "iterations": 12}).json()["id"]
        job = finished(client, job_id)
        assert (job["state"], job["step"], job["total"], job["has_image"]) == ("done", 12, 12, True)
        studio_image = png_pixels(client.get(f"/api/jobs/{job_id}/image").content)
        assert studio_image.shape == (48, 64, 3)
        sidecar = client.get(f"/api/jobs/{job_id}/settings").json()
        assert sidecar["settings"]["iterations"] == 12 and sidecar["command"].startswith("nst stylize ")
        replay = tmp_path / "replay"
        replay.mkdir()
        for name in sidecar["inputs"]:
            (replay / name).write_bytes(client.get(f"/api/jobs/{job_id}/inputs/{Path(name).stem}").content)
    monkeypatch.chdir(replay)
    assert nst_main(sidecar["argv"][1:]) == 0
    replayed = png_pixels((replay / "result.png").read_bytes())
    assert np.abs(replayed - studio_image).max() <= 1


def cli_error(capsys, tmp_path, flags: list[str]) -> str:
    content = write_image(tmp_path / "c.png")
    assert nst_main(["stylize", str(content), str(content), "-o", str(tmp_path / "o.png"), *flags]) == 2
    return capsys.readouterr().err.strip().removeprefix("nst: error: ")


@pytest.mark.parametrize(
    ("settings", "flags"),
    [
        ({"size": "abc"}, ["--size", "abc"]),
        ({"iterations": 0}, ["--iterations", "0"]),
        ({"colors": "neon"}, ["--colors", "neon"]),
        ({"style_weight": -1}, ["--style-weight=-1"]),
        (
            {"content-layers": "relu2_1:1", "content_layer_weights": [1]},
            ["--content-layers", "relu2_1:1", "--content-layer-weights", "1"],
        ),
    ],
)
def test_settings_are_refused_with_the_cli_line(tmp_path, files, capsys, settings, flags):
    expected = cli_error(capsys, tmp_path, flags)
    with studio(tmp_path / "data", files) as client:
        checked = client.post("/api/settings/check", json=settings)
        assert checked.status_code == 400
        assert checked.json()["detail"] == expected
        refused = submit(client, files, settings)
        assert (refused.status_code, refused.json()["detail"]) == (400, expected)
        assert client.get("/api/jobs").json() == []


def test_the_studio_refuses_server_paths_and_unknown_options(tmp_path, files):
    with studio(tmp_path / "data", files) as client:
        for settings, words in (
            ({"mask": "/etc/passwd"}, "--mask names files on the server"),
            ({"init": "/etc/hosts"}, "--init takes content, recolored, noise, style"),
            ({"weights": "/tmp/other.pth"}, "--weights takes a named source"),
            ({"device": "cuda:7"}, "--device 'cuda:7' is not served here"),
            ({"bogus": 1}, "unknown option --bogus"),
        ):
            detail = client.post("/api/settings/check", json=settings).json()["detail"]
            assert detail.startswith(words), detail
        # Dashes and underscores name the same option.
        ok = client.post("/api/settings/check", json={"style-weight": 5, "style_scale": 0.5})
        assert ok.json()["settings"]["style-weight"] == 5 and ok.json()["settings"]["style-scale"] == 0.5


def test_stop_keeps_the_image_and_continue_starts_from_it(tmp_path, files):
    with studio(tmp_path / "data", files) as client:
        job_id = submit(client, files, LONG).json()["id"]
        wait_for(client, job_id, lambda job: job["step"] >= 4 and job["has_image"], "reached step 4")
        assert client.delete(f"/api/jobs/{job_id}").status_code == 200
        stopped = finished(client, job_id)
        assert stopped["state"] == "stopped" and 4 <= stopped["step"] < stopped["total"]
        stopped_image = png_pixels(client.get(f"/api/jobs/{job_id}/image").content)
        content = png_pixels(files["content"])
        assert np.abs(stopped_image - content).mean() > 10  # the run moved it

        # One Adam step of a vanishing size: the continued job's image is where it started.
        continued = submit(
            client,
            files,
            {"size": 64, "iterations": 1, "optimizer": "adam", "lr": 1e-9},
            content_name=None,
            styles=0,
            continue_from=job_id,
        )
        assert continued.status_code == 201, continued.text
        child = finished(client, continued.json()["id"])
        assert child["state"] == "done" and child["parent"] == job_id
        assert child["names"] == stopped["names"]
        child_image = png_pixels(client.get(f"/api/jobs/{child['id']}/image").content)
        assert np.abs(child_image - stopped_image).max() <= 1
        sidecar = client.get(f"/api/jobs/{child['id']}/settings").json()
        assert "--init=init.png" in sidecar["argv"]


def test_jobs_run_one_after_another_in_the_order_they_came(tmp_path, files):
    with studio(tmp_path / "data", files) as client:
        first = submit(client, files, LONG).json()
        wait_for(client, first["id"], lambda job: job["state"] == "running", "started")
        second, third, cancelled = (submit(client, files, QUICK).json() for _ in range(3))
        assert [job["position"] for job in (second, third, cancelled)] == [1, 2, 3]
        assert client.delete(f"/api/jobs/{cancelled['id']}").json()["state"] == "stopped"
        client.delete(f"/api/jobs/{first['id']}")
        done = [finished(client, job["id"]) for job in (first, second, third)]
        assert [job["state"] for job in done] == ["stopped", "done", "done"]
        for earlier, later in zip(done, done[1:]):
            assert earlier["finished"] <= later["started"]
        never_ran = client.get(f"/api/jobs/{cancelled['id']}").json()
        assert (never_ran["state"], never_ran["started"], never_ran["has_image"]) == ("stopped", None, False)
        listed = [job["id"] for job in client.get("/api/jobs").json()]
        assert listed == [cancelled["id"], third["id"], second["id"], first["id"]]


def png_header(width: int, height: int) -> bytes:
    """A PNG that says it is width x height and holds no pixels: what a decompression bomb
    looks like before it is decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_bad_uploads_are_refused_and_nothing_is_stored(tmp_path, files):
    limits = UploadLimits(max_bytes=200_000, max_pixels=3000)
    with studio(tmp_path / "data", files, limits=limits) as client:
        cases = [
            ({**files, "content": b"GIF89a, or so it says"}, "photo.png", 400, "photo.png is not an image"),
            (files, "photo.png", 413, "photo.png is 64x48 px"),
            (files, "../../escape.png", 400, "the file name '../../escape.png' has a path in it"),
            (files, "..\\escape.png", 400, "the file name"),
            ({**files, "content": b"x" * 200_001}, "big.png", 413, "big.png is 0.2 MB"),
        ]
        for sent, name, status, words in cases:
            response = submit(client, sent, QUICK, content_name=name)
            assert response.status_code == status, response.text
            assert response.json()["detail"].startswith(words), response.json()["detail"]
        assert client.get("/api/jobs").json() == []
    stored = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file())
    assert all(path.startswith("data/jobs.sqlite3") for path in stored), stored


def test_pillows_decompression_bomb_guard_is_an_error():
    from nst.serve.uploads import UploadTooLarge, decoded_png

    # Over Pillow's 89 MP it only warns (here, where warnings are ignored as in a server); the
    # studio refuses.
    with warnings.catch_warnings(), pytest.raises(UploadTooLarge, match="decompression-bomb guard"):
        warnings.simplefilter("ignore")
        decoded_png(png_header(10_000, 10_000), "bomb.png", UploadLimits(max_pixels=10**12))
    # Under it, the studio's own limit (50 MP by default) says how large the image is.
    with pytest.raises(UploadTooLarge, match=r"bomb.png is 8000x8000 px \(64.0 MP\)"):
        decoded_png(png_header(8000, 8000), "bomb.png", UploadLimits())


def test_a_failed_job_ends_with_its_line_and_the_next_job_runs(tmp_path, files):
    with studio(tmp_path / "data", files) as client:
        broken = submit(client, files, {**QUICK, "style_layers": "relu1_1,relu9_9"}).json()
        diverging = submit(client, files, {**QUICK, "optimizer": "adam", "lr": 1e30}).json()
        good = submit(client, files, QUICK).json()
        broken, diverging, good = (finished(client, job["id"]) for job in (broken, diverging, good))
        assert broken["state"] == "failed" and "relu9_9" in broken["error"] and "\n" not in broken["error"]
        assert diverging["state"] == "failed"
        assert diverging["error"].startswith("the loss became non-finite after step")
        assert good["state"] == "done" and good["error"] is None
        assert client.get(f"/api/jobs/{good['id']}/image").status_code == 200


def test_a_killed_server_leaves_its_job_interrupted_with_its_snapshot(tmp_path, files):
    data = tmp_path / "data"
    command = [sys.executable, "-m", "nst.cli", "serve", "--port", "0", "--data", str(data)]
    command += ["--weights", str(files["weights"])]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        url = re.search(r"serving (http://\S+/)", line)
        assert url, line
        import httpx

        with httpx.Client(base_url=url.group(1), timeout=30) as client:
            done = submit(client, files, {**QUICK, **SHALLOW}).json()
            finished(client, done["id"])
            running = submit(client, files, {**LONG, **SHALLOW}).json()
            waiting = submit(client, files, {**QUICK, **SHALLOW}).json()
            snapshot = data / "jobs" / running["id"] / "latest.png"
            wait_for(client, running["id"], lambda job: job["step"] >= 2 and snapshot.exists(), "snapshot")
            kept = snapshot.read_bytes()
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        server.stdout.close()
    with studio(data, files) as client:
        interrupted = client.get(f"/api/jobs/{running['id']}").json()
        assert interrupted["state"] == "interrupted" and interrupted["has_image"]
        assert client.get(f"/api/jobs/{running['id']}/image").content == kept
        assert client.get(f"/api/jobs/{done['id']}").json()["state"] == "done"
        assert client.get(f"/api/jobs/{done['id']}/image").status_code == 200
        assert finished(client, waiting["id"])["state"] == "done"  # it waited its turn, and runs now


def test_the_token_guards_a_studio_off_loopback(tmp_path, files):
    assert token_for("127.0.0.1", None) is None and token_for("::1", None) is None
    assert token_for("localhost", "given") is None
    assert token_for("0.0.0.0", "given") == "given"
    assert len(token_for("192.168.1.5", None)) >= 24
    with studio(tmp_path / "data", files, token="sesame") as client:
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/").status_code == 401
        assert client.get("/api/jobs", headers={"x-nst-token": "wrong"}).status_code == 401
        assert client.get("/api/jobs", headers={"x-nst-token": "sesame"}).status_code == 200
        assert client.get("/api/jobs", headers={"authorization": "Bearer sesame"}).status_code == 200
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/api/jobs/0123456789abcdef/live") as socket:
                socket.receive_json()
        assert refused.value.code == 4401
        code = client.app.state.access.login_code()
        signed_in = client.get(f"/login/{code}", follow_redirects=False)
        assert signed_in.status_code == 303 and "nst_token=sesame" in signed_in.headers["set-cookie"]
        assert client.get("/api/jobs").status_code == 200  # the client keeps the cookie
        client.cookies.clear()
        assert client.get(f"/login/{code}").status_code == 401  # the link works once


def test_the_api_is_described_by_openapi(tmp_path, files):
    with studio(tmp_path / "data", files) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {"post", "get"} <= set(paths["/api/jobs"])
    assert {"get", "delete"} <= set(paths["/api/jobs/{job_id}"])
    assert "/api/jobs/{job_id}/image" in paths


def test_nst_serve_says_in_one_line_what_is_missing_or_taken(tmp_path, capsys, monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        assert nst_main(["serve", "--port", str(port), "--data", str(tmp_path / "data")]) == 2
    finally:
        taken.close()
    error = capsys.readouterr().err
    assert error.startswith(f"nst: error: cannot listen on 127.0.0.1:{port}: ") and error.count("\n") == 1
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the web extra were not installed
    assert nst_main(["serve", "--data", str(tmp_path / "data")]) == 2
    assert capsys.readouterr().err == (
        "nst: error: nst serve needs the web extra (uvicorn); install it with: pip install 'nst[web]'\n"
    )


def test_a_regular_install_carries_the_page(tmp_path):
    site = tmp_path / "site"
    repo = Path(__file__).resolve().parents[1]
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target"]
    subprocess.run([*pip, str(site), str(repo)], check=True, capture_output=True, timeout=300)
    probe = "from importlib import resources; print(resources.files('nst.serve') / 'static')"
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(site)}
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    static = Path(found.stdout.strip())
    assert static.is_relative_to(site)
    page = (static / "index.html").read_text()
    assert '<script src="/static/studio.js">' in page
    assert {path.name for path in static.iterdir()} >= {"index.html", "studio.js", "studio.css"}
