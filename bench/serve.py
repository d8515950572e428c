"""`python -m bench.serve`: what the studio costs a run, measured in one process.

1. Overhead. The same run (nst demo's pair, --size, --iterations, one scale, the studio's
   --print-every) made as `nst stylize` makes it (``StyleTransfer.prepare`` then ``run`` with a
   progress callback), as a studio job nobody watches, and as a studio job watched by a
   browser (Debian's Chromium through Playwright, the page open on the job) on this machine.
   The studio is served by uvicorn from a thread of this process. The three alternate,
   --repeats times each, after one unmeasured run; steps/s are steps over each run's
   optimisation seconds (compilation excluded), the same for all three.
2. First preview. Seconds from the watched run's first step (its Started event, on the
   server's clock) to the page showing its first frame.
3. Queue. --jobs jobs submitted at once (nobody watching) must all end done, one after another
   in the order they came; this process's RSS is read as each one finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx

from bench.cell import DEMO_IMAGES
from bench.environment import describe_environment
from bench.first_image import write_demo_pair
from nst import StyleTransfer, make_config
from nst.serve.settings import studio_print_every

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FINISHED = ("done", "stopped", "failed", "interrupted")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", default="torch", help="torch or jax (default: torch)")
    parser.add_argument("--device", default="cpu", help="the studio's and the runs' device (default: cpu)")
    parser.add_argument(
        "--weights", default="vgg16-offline", help="weights of every run (default: vgg16-offline)"
    )
    parser.add_argument(
        "--size", type=int, default=256, help="longest side of the watched run (default: 256)"
    )
    parser.add_argument("--iterations", type=int, default=100, help="steps of the watched run (default: 100)")
    parser.add_argument("--repeats", type=int, default=2, help="measured runs of each kind (default: 2)")
    parser.add_argument("--jobs", type=int, default=10, help="jobs submitted at once (default: 10)")
    parser.add_argument("--job-size", type=int, default=128, help="their longest side (default: 128)")
    parser.add_argument("--job-iterations", type=int, default=20, help="their steps (default: 20)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="output folder")
    parser.add_argument("--name", help="file stem (default: serve-<device>-<date>)")
    return parser.parse_args(argv)


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@contextmanager
def served_studio(data: Path, backend: str, device: str) -> Iterator[str]:
    """The studio on a free loopback port, served from a thread of this process."""
    import uvicorn

    from nst.serve.app import Studio, create_app

    app = create_app(Studio(data, backend=backend, device=device))
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the studio did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(120)
        listening.close()


def settings(args, size: int, iterations: int) -> dict:
    return {
        "size": size,
        "iterations": iterations,
        "scales": 1,
        "weights": args.weights,
        "device": "auto",
        "print_every": studio_print_every([args.device]),
    }


def cli_run(args, content: Path, style: Path, iterations: int) -> dict:
    """The run as `nst stylize` makes it, in this process."""
    options = {**settings(args, args.size, iterations), "device": args.device}
    transfer = StyleTransfer(make_config(**options), args.backend).prepare(str(content), [str(style)])
    result = transfer.run(lambda progress: None)
    return {
        "steps": result.steps,
        "seconds": result.seconds,
        "steps_per_second": result.steps / result.seconds,
    }


def submit(client: httpx.Client, content: Path, style: Path, chosen: dict) -> str:
    files = [
        ("content", ("content.png", content.read_bytes(), "image/png")),
        ("style", ("style.png", style.read_bytes(), "image/png")),
    ]
    response = client.post("/api/jobs", files=files, data={"settings": json.dumps(chosen)})
    response.raise_for_status()
    return response.json()["id"]


def wait_finished(client: httpx.Client, job_id: str, poll: float = 0.5) -> dict:
    while (job := client.get(f"/api/jobs/{job_id}").json())["state"] not in FINISHED:
        time.sleep(poll)
    if job["state"] != "done":
        raise RuntimeError(f"job {job_id} ended {job['state']}: {job['error']}")
    return job


def watched_run(
    args, client: httpx.Client, page, url: str, content: Path, style: Path, iterations: int
) -> dict:
    """A studio job with the page open on it: its steps/s, and the first preview's delay."""
    job_id = submit(client, content, style, settings(args, args.size, iterations))
    page.goto("about:blank")  # a fresh page: a new hash alone would keep the last one's frames
    page.goto(f"{url}#{job_id}")
    page.wait_for_function(
        "Number(document.querySelector('#preview').dataset.frame) >= 1", polling=10, timeout=300_000
    )
    first_frame_at = time.time()
    progress = client.get(f"/api/jobs/{job_id}").json()["progress"]
    if progress is None:
        raise RuntimeError(f"job {job_id} ended before its first preview was shown; give it more steps")
    job = wait_finished(client, job_id)
    frames = int(page.get_attribute("#preview", "data-frame") or 0)
    return {
        "steps": job["step"],
        "seconds": job["seconds"],
        "steps_per_second": job["step"] / job["seconds"],
        "first_preview_seconds": first_frame_at - progress["started_at"],
        # Of which the engine's first report (the first --print-every steps), and the rest the
        # studio's: the image copied, encoded, sent and shown.
        "first_report_seconds": progress["first_report_at"] - progress["started_at"],
        "frames_shown": frames,
    }


def unwatched_run(args, client: httpx.Client, content: Path, style: Path, iterations: int) -> dict:
    """A studio job nobody watches: the studio's own cost, without a browser on this machine."""
    job = wait_finished(client, submit(client, content, style, settings(args, args.size, iterations)))
    return {"steps": job["step"], "seconds": job["seconds"], "steps_per_second": job["step"] / job["seconds"]}


# The three ways the run is made, in the order each repeat makes them.
KINDS = {
    "cli": "as `nst stylize` runs it",
    "unwatched": "studio job, nobody watching",
    "watched": "studio job, watched by Chromium",
}


def overhead(args, client: httpx.Client, url: str, content: Path, style: Path) -> dict:
    from playwright.sync_api import sync_playwright

    runs: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            warm_steps = max(4, args.iterations // 10)
            cli_run(args, content, style, warm_steps)  # first-run costs out of the measured runs
            watched_run(args, client, page, url, content, style, warm_steps)
            for repeat in range(args.repeats):
                page.goto("about:blank")
                runs["cli"].append(cli_run(args, content, style, args.iterations))
                runs["unwatched"].append(unwatched_run(args, client, content, style, args.iterations))
                runs["watched"].append(watched_run(args, client, page, url, content, style, args.iterations))
                rates = ", ".join(f"{kind} {runs[kind][-1]['steps_per_second']:.3f}" for kind in KINDS)
                watched = runs["watched"][-1]
                print(
                    f"repeat {repeat + 1}: steps/s {rates}; first preview "
                    f"{watched['first_preview_seconds']:.2f} s "
                    f"(first report {watched['first_report_seconds']:.2f} s)",
                    flush=True,
                )
        finally:
            browser.close()
    medians = {kind: statistics.median(run["steps_per_second"] for run in runs[kind]) for kind in KINDS}
    return {
        "runs": runs,
        "median_steps_per_second": medians,
        "slower_percent": {
            kind: 100 * (1 - medians[kind] / medians["cli"]) for kind in ("unwatched", "watched")
        },
    }


def queue(args, client: httpx.Client, content: Path, style: Path) -> dict:
    chosen = settings(args, args.job_size, args.job_iterations)
    ids = [submit(client, content, style, chosen) for _ in range(args.jobs)]
    rss: list[int] = []
    for job_id in ids:
        wait_finished(client, job_id, poll=0.02)
        rss.append(rss_bytes())
    jobs = [client.get(f"/api/jobs/{job_id}").json() for job_id in ids]
    in_order = all(earlier["finished"] <= later["started"] for earlier, later in zip(jobs, jobs[1:]))
    print(
        f"queue: {len(jobs)} jobs done, one after another: {in_order}; "
        f"RSS {rss[0] / 2**20:.0f} -> {rss[-1] / 2**20:.0f} MiB"
    )
    return {
        "jobs": len(jobs),
        "done": sum(job["state"] == "done" for job in jobs),
        "one_after_another": in_order,
        "rss_mib": [round(value / 2**20, 1) for value in rss],
        "rss_last_over_first": rss[-1] / rss[0],
        "seconds": [job["seconds"] for job in jobs],
    }


def write_markdown(report: dict, path: Path) -> None:
    env, chosen, over, queued = report["environment"], report["settings"], report["overhead"], report["queue"]
    lines = [
        f"# The studio's costs: {chosen['backend']} on {chosen['device']}, {chosen['weights']}",
        "",
        f"`{report['command']}` on {env.get('gpu') or env['cpu']} ({env['cpu_count']} cores), "
        f"{report['date']}; load average over the last 15 minutes {report['load_average_15min']}"
        f"{', OMP_NUM_THREADS=' + env['env']['OMP_NUM_THREADS'] if 'OMP_NUM_THREADS' in env['env'] else ''}.",
        "",
        f"Watched run: {chosen['size']} px, {chosen['iterations']} steps, one scale, --print-every "
        f"{studio_print_every([chosen['device']])}; content: {report['images']['content']}; "
        f"style: {report['images']['style']}.",
        "",
        "| run | steps/s (each repeat) | median | slower than `nst stylize` |",
        "| --- | --- | --- | --- |",
    ]
    for kind, label in KINDS.items():
        rates = ", ".join(f"{run['steps_per_second']:.3f}" for run in over["runs"][kind])
        slower = f"{over['slower_percent'][kind]:.1f}%" if kind in over["slower_percent"] else ""
        lines.append(f"| {label} | {rates} | {over['median_steps_per_second'][kind]:.3f} | {slower} |")
    previews = ", ".join(
        f"{run['first_preview_seconds']:.2f} (first report {run['first_report_seconds']:.2f})"
        for run in over["runs"]["watched"]
    )
    lines += [
        "",
        "- Target: a watched run at most 5% slower than `nst stylize`.",
        f"- First preview shown, seconds after the first step began: {previews}. The first report "
        "comes when the first --print-every steps are done; the rest is the studio's (target: 2 s).",
        f"- Queue: {queued['jobs']} jobs of {chosen['job_size']} px, {chosen['job_iterations']} steps "
        f"submitted at once: {queued['done']} done, one after another: {queued['one_after_another']}; "
        f"RSS after each (MiB): {', '.join(str(v) for v in queued['rss_mib'])}; last over first: "
        f"{queued['rss_last_over_first']:.3f} (target: within 1.10).",
    ]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    report = {
        "command": "python -m bench.serve " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": date.today().isoformat(),
        "settings": {
            key: getattr(args, key)
            for key in (
                "backend",
                "device",
                "weights",
                "size",
                "iterations",
                "repeats",
                "jobs",
                "job_size",
                "job_iterations",
            )
        },
        "images": dict(DEMO_IMAGES),
    }
    with tempfile.TemporaryDirectory(prefix="nst-bench-serve-") as folder:
        content, style = write_demo_pair(Path(folder))
        with served_studio(Path(folder) / "data", args.backend, args.device) as url:
            with httpx.Client(base_url=url, timeout=60) as client:
                report["overhead"] = overhead(args, client, url, content, style)
                report["queue"] = queue(args, client, content, style)
    report["environment"] = describe_environment(args.device)
    # Other work on the machine moves these numbers: its load over the last 15 minutes.
    report["load_average_15min"] = round(os.getloadavg()[2], 2)
    stem = args.name or f"serve-{args.device.split(':')[0]}-{report['date']}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1))
    write_markdown(report, args.out / f"{stem}.md")
    print(f"wrote {args.out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
