"""JAX's persistent compilation cache, kept in nst's cache folder.

A second run with the same network, settings and image shapes then loads its executables
instead of compiling them (a multi-scale run compiles once per scale); compile times are in
docs/performance.md.
"""

from __future__ import annotations

from typing import Any

import jax

from nst.weights import cache_dir


def enable_compilation_cache() -> None:
    """Point JAX's persistent cache at ``<nst cache>/jax``, unless the user chose a folder
    (``JAX_COMPILATION_CACHE_DIR`` or ``jax.config``). JAX's own threshold stays: only
    compilations longer than ``jax_persistent_cache_min_compile_time_secs`` (1 s) are kept."""
    # jax.config makes its options attributes at run time; its class does not declare them.
    config: Any = jax.config
    if config.jax_compilation_cache_dir is None:
        config.update("jax_compilation_cache_dir", str(cache_dir() / "jax"))
