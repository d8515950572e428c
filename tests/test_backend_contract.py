"""Each backend declares the ``Backend`` contract and defines every member itself; the core
imports no framework."""

from __future__ import annotations

import inspect
import subprocess
import sys

from nst.backend import Backend, get_backend


def contract_gaps(implementation: type) -> list[str]:
    """The members of ``Backend`` that ``implementation`` does not define itself (a method
    inherited from the Protocol is a stub), or defines with other parameters."""
    if Backend not in implementation.__mro__:
        return ["does not declare Backend"]
    mro = implementation.__mro__
    own = {name for klass in mro[: mro.index(Backend)] for name in vars(klass)}
    gaps = [attribute for attribute in Backend.__annotations__ if attribute not in own]
    for name, member in vars(Backend).items():
        if not inspect.isfunction(member) or name.startswith("_"):
            continue
        if name not in own:
            gaps.append(name)
        elif list(inspect.signature(getattr(implementation, name)).parameters) != list(
            inspect.signature(member).parameters
        ):
            gaps.append(f"{name} (parameters)")
    return gaps


def test_each_backend_declares_and_defines_every_member(backend_name):
    backend = get_backend(backend_name)
    assert contract_gaps(type(backend)) == []
    assert backend.host_memory.bytes_per_pixel > 0 and backend.framework_packages


def test_a_backend_missing_members_is_caught():
    class Partial(Backend):
        name = "partial"

        def devices(self, extra) -> list[str]:
            return ["cpu"]

    gaps = contract_gaps(Partial)
    assert "start" in gaps and "host_memory" in gaps and "devices (parameters)" in gaps
    assert "name" not in gaps


def test_the_core_imports_no_framework():
    modules = "nst, nst.cli, nst.commands, nst.engine, nst.plan, nst.batching.executors, nst.batching.worker"
    code = f"import sys, {modules}; print(sorted(m for m in ('torch', 'jax', 'flax') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
