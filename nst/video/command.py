"""``nst video``: one progress bar over the frames, the current frame's steps beside it."""

from __future__ import annotations

import sys
from collections.abc import Callable

from nst.errors import EXIT_INTERRUPTED
from nst.options.config import Config
from nst.stylize import Stopped
from nst.video.stylize_video import VideoProgress, stylize_video


def run(args, cfg: Config, log: Callable[[str], None]) -> int:
    from tqdm import tqdm

    bar = None

    def on_progress(progress: VideoProgress) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=progress.frames, initial=progress.frame - 1, unit="frame", file=sys.stderr)
        if progress.step is None:
            bar.update(progress.frame - bar.n)
            return
        losses = " ".join(f"{k}={v:.3g}" for k, v in progress.step.losses.items())
        bar.set_postfix_str(
            f"frame {progress.frame}: step {progress.step.step}/{progress.step.total} {losses}"
        )

    try:
        result = stylize_video(
            args.input,
            args.styles,
            args.output,
            backend=args.backend,
            temporal_weight=args.temporal_weight,
            frame_iterations=args.frame_iterations,
            max_frames=args.max_frames,
            start=args.start,
            end=args.end,
            callback=on_progress,
            log=log,
            config=cfg,
        )
    finally:  # an error's line then starts on a line of its own
        if bar is not None:
            bar.close()
    if result.stopped is Stopped.INTERRUPTED:
        where = f"wrote the {result.frames_done} frames done to {result.output}" if result.frames_done else ""
        log(
            f"interrupted at frame {result.frames_done + 1}/{result.frames}; {where or 'no frame finished'}; "
            "run the same command again to continue"
        )
        return EXIT_INTERRUPTED
    print(f"wrote {result.output} ({result.frames} frames)")
    return 0
