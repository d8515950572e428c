"""The studio's web app: the page, the JSON API over the job store, and a WebSocket per job
that streams its progress (JSON) and its preview frames (JPEG)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

import nst
from nst.backend import DEFAULT_BACKEND, REGISTRY, get_backend
from nst.devices import device_names
from nst.errors import NstError
from nst.options.config import PRESETS
from nst.serve import store as jobs
from nst.serve.auth import LOGIN_PATH, TOKEN_COOKIE, Access, TokenMiddleware
from nst.serve.live import Hub
from nst.serve.settings import check_settings, option_table, studio_print_every
from nst.serve.store import JobStore
from nst.serve.uploads import UploadLimits, UploadTooLarge, decoded_png, display_name
from nst.serve.workers import JobQueue, encode

log = logging.getLogger("nst.serve")
MAX_STYLES = 16
# A watcher sends at most this often; what changed in between goes out in one message.
WATCH_INTERVAL = 0.1
INPUT_NAME = re.compile(r"content|init|style-\d{1,2}")


@dataclass(frozen=True)
class Studio:
    """How a studio runs: where its jobs live, the backend and devices it serves, options
    under every job's own (``defaults``), its upload limits and its token (None: no token)."""

    data: Path
    backend: str | None = None
    device: str = "auto"
    defaults: dict[str, Any] = field(default_factory=dict)
    limits: UploadLimits = UploadLimits()
    token: str | None = None


class JobView(BaseModel):
    """A job as the API shows it."""

    id: str
    state: str
    position: int | None = None
    step: int
    total: int
    seconds: float
    error: str | None = None
    device: str | None = None
    parent: str | None = None
    created: float
    started: float | None = None
    finished: float | None = None
    names: dict[str, Any]
    settings: dict[str, Any]
    progress: dict[str, Any] | None = None
    has_image: bool


def served_devices(backend: str, device: str) -> tuple[list[str], str | None]:
    """One worker's device each: for 'auto', every accelerator the backend sees, else its CPU.
    Where the backend is not installed: the CPU, and the line that says how to install it (the
    page shows it; the studio serves the page all the same)."""
    try:
        found = get_backend(backend).devices()
    except NstError as error:
        return ["cpu"], str(error)
    return device_names("all" if device == "auto" else device, found), None


def installed_backends() -> list[str]:
    return [name for name in REGISTRY if importlib.util.find_spec(name) is not None]


def create_app(studio: Studio) -> FastAPI:
    store = JobStore(studio.data)
    hub = Hub()
    backend = studio.backend or os.environ.get("NST_BACKEND") or DEFAULT_BACKEND
    devices, problem = served_devices(backend, studio.device)
    if problem:
        log.warning("%s; jobs fail until it is", problem)
    backends = installed_backends()
    defaults = {"print_every": studio_print_every(devices), "backend": backend, **studio.defaults}
    queue = JobQueue(store, hub, devices, nst.__version__)
    access = Access(studio.token)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        queue.start()
        try:
            yield
        finally:
            await run_in_threadpool(queue.close)
            store.close()

    app = FastAPI(title="nst studio", version=nst.__version__, lifespan=lifespan)
    app.state.access = access  # `nst serve` asks it for the one-time login link
    app.add_middleware(TokenMiddleware, access=access)
    static = Path(str(resources.files("nst.serve") / "static"))
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.exception_handler(NstError)
    async def one_line(request: Request, error: NstError) -> JSONResponse:
        status = 413 if isinstance(error, UploadTooLarge) else 400
        return JSONResponse({"detail": str(error)}, status_code=status)

    def record_of(job_id: str) -> dict[str, Any]:
        record = store.get(job_id)
        if record is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return record

    def view(record: dict[str, Any]) -> dict[str, Any]:
        job_id = record["id"]
        live = hub.get(job_id)
        progress = live.state() if live is not None else None
        step, total = record["step"], record["total"]
        if progress and progress.get("total"):
            step, total = progress["step"], progress["total"]
        return {
            **{key: record[key] for key in JobView.model_fields if key in record},
            "settings": {name.replace("_", "-"): value for name, value in record["settings"].items()},
            "step": step,
            "total": total,
            "position": queue.position(job_id) if record["state"] == jobs.QUEUED else None,
            "progress": progress,
            "has_image": (live is not None and live.pixels is not None) or _image_file(record) is not None,
        }

    def _image_file(record: dict[str, Any]) -> Path | None:
        for name in ("result.png", "latest.png"):
            path = store.path(record["id"], name)
            if path.exists():
                return path
        return None

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(static / "index.html")

    @app.get(LOGIN_PATH + "{code}", include_in_schema=False)
    async def login(code: str) -> Response:
        if access.token is None:
            return RedirectResponse("/")
        if not access.redeem(code):
            raise HTTPException(401, "this login link was used already or is not valid; ask for a new one")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(TOKEN_COOKIE, access.token, httponly=True, samesite="strict")
        return response

    @app.get("/api/options")
    async def options() -> dict[str, Any]:
        """What the page offers: the options of nst stylize with their defaults and help, the
        presets, backends and devices, and the upload limits."""
        return {
            "version": nst.__version__,
            "options": option_table(),
            "presets": list(PRESETS),
            "backends": backends,
            "backend": backend,
            "devices": devices,
            "problem": problem,
            "studio_defaults": {name.replace("_", "-"): value for name, value in defaults.items()},
            "limits": {"max_bytes": studio.limits.max_bytes, "max_pixels": studio.limits.max_pixels},
        }

    @app.post("/api/settings/check")
    async def check(settings: dict[str, Any]) -> dict[str, Any]:
        """Settings checked as a job's would be: 400 with the CLI's line when they are wrong."""
        checked = check_settings(settings, defaults, list(REGISTRY), devices)
        return {"settings": {name.replace("_", "-"): value for name, value in checked.settings.items()}}

    @app.post("/api/jobs", status_code=201, response_model=JobView)
    async def submit(
        content: Annotated[UploadFile | None, File(description="the photo")] = None,
        style: Annotated[list[UploadFile] | None, File(description="one or more paintings")] = None,
        settings: Annotated[str, Form(description="JSON: nst stylize options")] = "{}",
        continue_from: Annotated[str | None, Form(description="a job to start from")] = None,
    ) -> dict[str, Any]:
        """Queue a job: a photo and paintings, or with ``continue_from`` an earlier job's
        image (and its photo and paintings unless new ones are sent)."""
        styles = style or []
        if len(styles) > MAX_STYLES:
            raise NstError(f"{len(styles)} paintings; the studio takes up to {MAX_STYLES}")
        parent = record_of(continue_from) if continue_from else None
        checked = check_settings(settings, defaults, list(REGISTRY), devices, continued=parent is not None)
        inputs: dict[str, bytes] = {}
        names: dict[str, Any] = {}
        if content is not None:
            names["content"] = display_name(content.filename)
            inputs["content.png"] = await _decoded(content, names["content"], studio.limits)
        if styles:
            names["styles"] = [display_name(upload.filename) for upload in styles]
            for index, (upload, name) in enumerate(zip(styles, names["styles"])):
                inputs[f"style-{index}.png"] = await _decoded(upload, name, studio.limits)
        if parent is not None:
            inputs["init.png"] = await run_in_threadpool(_current_image, parent)
            if content is None:
                names["content"] = parent["names"]["content"]
                inputs["content.png"] = store.path(parent["id"], "content.png").read_bytes()
            if not styles:
                names["styles"] = parent["names"]["styles"]
                for index in range(parent["styles"]):
                    name = f"style-{index}.png"
                    inputs[name] = store.path(parent["id"], name).read_bytes()
        if "content.png" not in inputs:
            raise NstError("no photo: send a content file")
        if not names.get("styles"):
            raise NstError("no painting: send at least one style file")
        checked.config.loss_spec(len(names["styles"]))  # --style-blend against the paintings
        job_id = await run_in_threadpool(
            store.create, checked.settings, names, inputs, parent["id"] if parent else None
        )
        queue.submitted()
        return view(record_of(job_id))

    def _current_image(parent: dict[str, Any]) -> bytes:
        live = hub.get(parent["id"])
        if live is not None and live.pixels is not None:
            return encode(live.pixels, "PNG")
        path = _image_file(parent)
        if path is None:
            raise NstError(f"job {parent['id']} has no image yet to continue from")
        return path.read_bytes()

    @app.get("/api/jobs", response_model=list[JobView])
    async def list_jobs() -> list[dict[str, Any]]:
        """Every job, the newest first."""
        return [view(record) for record in store.jobs()]

    @app.get("/api/jobs/{job_id}", response_model=JobView)
    async def get_job(job_id: str) -> dict[str, Any]:
        return view(record_of(job_id))

    @app.delete("/api/jobs/{job_id}", response_model=JobView)
    async def stop_job(job_id: str) -> dict[str, Any]:
        """Stop a job: a running one keeps its image so far; a waiting one leaves the queue."""
        record_of(job_id)
        queue.stop(job_id)
        return view(record_of(job_id))

    @app.get("/api/jobs/{job_id}/image", response_class=Response)
    async def image(job_id: str) -> Response:
        """The job's latest image as PNG: its result, or while it runs its latest preview."""
        record = record_of(job_id)
        live = hub.get(job_id)
        if live is not None and live.pixels is not None:
            pixels = live.pixels
            return Response(await run_in_threadpool(encode, pixels, "PNG"), media_type="image/png")
        path = _image_file(record)
        if path is None:
            raise HTTPException(404, f"job {job_id} has no image yet")
        return FileResponse(path, media_type="image/png", headers={"cache-control": "no-cache"})

    @app.get("/api/jobs/{job_id}/thumbnail", response_class=Response)
    async def thumbnail(job_id: str) -> Response:
        record = record_of(job_id)
        live = hub.get(job_id)
        if live is not None and live.frame is not None:
            return Response(live.frame, media_type="image/jpeg")
        stored = store.path(job_id, "thumbnail.jpg")
        path = stored if stored.exists() else _image_file(record)
        if path is None:
            raise HTTPException(404, f"job {job_id} has no image yet")
        return FileResponse(path, headers={"cache-control": "no-cache"})

    @app.get("/api/jobs/{job_id}/settings")
    async def settings_sidecar(job_id: str) -> Response:
        """The settings JSON of a finished job: its options and the nst stylize command that
        replays it on its inputs (``/inputs/...``)."""
        record_of(job_id)
        path = store.path(job_id, "settings.json")
        if not path.exists():
            raise HTTPException(404, f"job {job_id} has not finished")
        return FileResponse(path, media_type="application/json", filename=f"nst-{job_id}.json")

    @app.get("/api/jobs/{job_id}/inputs/{name}", response_class=Response)
    async def job_input(job_id: str, name: str) -> Response:
        """An input as the job read it: content, style-0, style-1, ..., init."""
        record_of(job_id)
        if not INPUT_NAME.fullmatch(name) or not store.path(job_id, f"{name}.png").exists():
            raise HTTPException(404, f"job {job_id} has no input {name!r}")
        return FileResponse(store.path(job_id, f"{name}.png"), media_type="image/png")

    @app.websocket("/api/jobs/{job_id}/live")
    async def watch(socket: WebSocket, job_id: str) -> None:
        """The job's record whenever it changes ({"type": "job"}), its progress with the new
        loss points ({"type": "progress"}), and each new preview frame as binary JPEG; the
        socket closes once the job has finished."""
        await socket.accept()
        if store.get(job_id) is None:
            await socket.close(code=4404, reason=f"no job {job_id!r}")
            return
        watcher = hub.watch(job_id)
        sent_job: dict[str, Any] | None = None
        sent_version, sent_frame, sent_points = -1, 0, 0
        try:
            while True:
                watcher.event.clear()
                record = store.get(job_id)
                assert record is not None
                current = view(record)
                # Steps go out with the progress; the record when anything else changes.
                job_message = {key: value for key, value in current.items() if key != "progress"}
                compared = {key: value for key, value in job_message.items() if key not in ("step", "total")}
                if compared != sent_job:
                    await socket.send_json({"type": "job", "job": job_message})
                    sent_job = compared
                live = hub.get(job_id)
                if live is not None and live.version != sent_version:
                    sent_version = live.version
                    state = live.state(sent_points)
                    sent_points = state["point_count"]
                    await socket.send_json({"type": "progress", **state})
                    frame_count, frame = live.latest_frame()
                    if frame is not None and frame_count != sent_frame:
                        sent_frame = frame_count
                        await socket.send_bytes(frame)
                if record["state"] in jobs.FINISHED:
                    await socket.close()
                    return
                await watcher.event.wait()
                await asyncio.sleep(WATCH_INTERVAL)
        except WebSocketDisconnect:
            pass
        finally:
            hub.unwatch(job_id, watcher)

    return app


async def _decoded(upload: UploadFile, name: str, limits: UploadLimits) -> bytes:
    data = await upload.read(limits.max_bytes + 1)
    return await run_in_threadpool(decoded_png, data, name, limits)
