"""Downloads: stream to a temporary file in the cache, check the sha256 prefix, rename."""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from nst.errors import NstError
from nst.weights.cache import atomic_write
from nst.weights.registry import WeightSource

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 30  # a connection silent this long counts as failed
HOW_TO_GO_OFFLINE = (
    "use --weights vgg16-offline (pip install 'nst[offline]') or --weights PATH to a local file"
)


class DownloadError(NstError):
    """The file could not be fetched (network, HTTP status, missing file); ``auto`` falls back."""

    def __init__(self, url: str, reason: str):
        self.summary = f"could not download {url} ({reason})"
        super().__init__(f"{self.summary}; {HOW_TO_GO_OFFLINE}")


def source_url(source: WeightSource) -> str:
    """The source's URL, or its file name under $NST_WEIGHTS_URL (a mirror or a test server)."""
    assert source.url is not None, f"{source.name} comes in a package, not from a URL"
    base = os.environ.get("NST_WEIGHTS_URL")
    return f"{base.rstrip('/')}/{source.file_name}" if base else source.url


def download(url: str, dest: Path, sha256_prefix: str, progress: bool = True) -> Path:
    """Fetch ``url`` into ``dest``; nothing is left behind unless its sha256 starts with the prefix."""
    with atomic_write(dest) as temporary:
        digest = _fetch(url, temporary, progress)
        if not digest.startswith(sha256_prefix):
            raise NstError(
                f"{url} does not match its published checksum (sha256 {digest[:16]}..., "
                f"expected {sha256_prefix}...); nothing was kept"
            )
    return dest


def _fetch(url: str, dest: Path, progress: bool) -> str:
    """Stream ``url`` into ``dest`` with a progress bar on stderr; return the sha256 hex digest."""
    sha256 = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(dest, "wb") as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                desc=url.rsplit("/", 1)[-1],
                disable=not progress,
            ) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    sha256.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the error response open
        raise DownloadError(url, f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(url, str(exc.reason)) from None
    except (http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        raise DownloadError(url, str(exc) or type(exc).__name__) from None
    return sha256.hexdigest()
