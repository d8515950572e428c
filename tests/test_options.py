"""The option declarations: the README's table made from them, and the checks they declare."""

from __future__ import annotations

from pathlib import Path

import pytest

from nst.cli import main
from nst.errors import NstError
from nst.options.__main__ import main as options_main
from nst.options.config import config_option, make_config
from nst.options.readme import HEADER, REGENERATE, table, with_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_table_is_the_declarations_table():
    text = README.read_text(encoding="utf-8")
    assert with_table(text) == text, f"README.md's option table is stale; regenerate it with: {REGENERATE}"


def test_the_table_has_a_row_per_brief_and_shared_rows():
    text, cfg = table(), make_config()
    assert f"| `--size` | {cfg.size} | longest side of the output |" in text
    weights = f"{cfg.content_weight:g}, {cfg.style_weight:g}"
    assert f"| `--content-weight`, `--style-weight` | {weights} | alpha and beta (" in text
    content, style = ",".join(cfg.content_layers), f"{cfg.style_layers[0]},…,{cfg.style_layers[-1]}"
    assert f"| `--content-layers`, `--style-layers` | `{content}`; `{style}` |" in text
    assert "| `--mask`, `--style-mask` | none |" in text
    assert "| `--normalize-network` | off |" in text


def test_regenerating_rewrites_a_stale_table(tmp_path, capsys):
    stale = tmp_path / "README.md"
    stale.write_text("# nst\n\n" + "\n".join(HEADER) + "\n| `--x` | 1 | y |\n\nend\n")
    assert options_main(["--readme", str(stale)]) == 0
    assert stale.read_text() == "# nst\n\n" + table() + "\nend\n"
    assert options_main(["--readme", str(tmp_path / "missing.md")]) == 2
    assert "missing.md" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("size", 0, "--size must be at least 1, got 0"),
        ("scale_detail", 1.5, "--scale-detail must be a share in [0, 1], got 1.5"),
        ("ema", 1.0, "--ema must be a decay in [0, 1), got 1.0"),
        ("tv_weight", float("inf"), "--tv-weight must be a non-negative number, got inf"),
        ("scales", -1, "--scales must be 0 (auto) or more, got -1"),
        ("optimizer", "sgd", "--optimizer must be one of lbfgs, adam, got 'sgd'"),
        ("tile", "0", "--tile must be auto, off or a tile side in px, got '0'"),
    ],
)
def test_config_refuses_with_the_declared_check(name, value, message):
    with pytest.raises(NstError) as refused:
        make_config(**{name: value})
    assert str(refused.value) == message


def test_a_declared_check_takes_values_in_its_range():
    config_option("scale_detail").check_range(1.0)
    assert make_config(scale_detail=1.0, ema=0.0, scales=0, tile="64").tile_side == 64


def test_a_command_option_is_checked_as_it_is_parsed(capsys):
    assert main(["serve", "--port", "70000"]) == 2
    assert capsys.readouterr().err == "nst: error: --port must be 0..65535, got 70000\n"
