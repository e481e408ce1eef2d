"""Loops are named in the order a call goes round them, not alphabetically."""

from __future__ import annotations

from ivrflow.compiler import check_source


def test_a_long_route_loop_is_named_in_call_order() -> None:
    names = ["entry", "zeta", "alpha", "mid", "beta", "omega", "gamma"]
    source = "".join(f'route {a} {{\n    when caller "1" -> goto {b}\n    otherwise -> goto {b}\n}}\n'
                     for a, b in zip(names, names[1:] + names[:1], strict=True))
    message = next(d.message for d in check_source(source, "f.ivr").diagnostics if d.code == "IVR122")
    assert message.startswith("routes go round `entry` → `zeta` → `alpha` → `mid` → `beta` → … (7 in all)")
