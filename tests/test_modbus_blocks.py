"""Block planning: every point read exactly once, within the size limit, with gaps only where allowed."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from wisgate.industrial.config import PointSection, overlaps
from wisgate.industrial.modbus.blocks import plan_blocks


def point(name: str, address: int, dtype: str = "u16", table: str = "holding") -> PointSection:
    return PointSection.model_validate({"name": name, "address": address, "type": dtype, "table": table})


def test_adjacent_points_share_a_block() -> None:
    points = [point("a", 0, "f32"), point("b", 2, "u16"), point("c", 3, "f64"), point("d", 10), point("e", 0,
                                                                                                        table="input")]
    blocks = plan_blocks(points)
    assert [(b.table, b.address, b.count, [p.name for p in b.points]) for b in blocks] == [
        ("holding", 0, 7, ["a", "b", "c"]), ("holding", 10, 1, ["d"]), ("input", 0, 1, ["e"])]
    assert plan_blocks(points, max_gap=3)[0].count == 11
    assert [b.count for b in plan_blocks(points, max_block=4)] == [3, 4, 1, 1]


@st.composite
def point_sets(draw: st.DrawFn) -> list[PointSection]:
    out: list[PointSection] = []
    for i in range(draw(st.integers(1, 30))):
        candidate = point(f"p{i}", draw(st.integers(0, 300)), draw(st.sampled_from(["u16", "u32", "f64"])),
                          draw(st.sampled_from(["holding", "input"])))
        if overlaps([*out, candidate]) is None:
            out.append(candidate)
    return out


@given(point_sets(), st.integers(0, 10), st.integers(4, 125))
def test_blocks_cover_each_point_once(points: list[PointSection], max_gap: int, max_block: int) -> None:
    blocks = plan_blocks(points, max_gap=max_gap, max_block=max_block)
    covered = [p.name for b in blocks for p in b.points]
    assert sorted(covered) == sorted(p.name for p in points)
    for block in blocks:
        assert block.count <= max_block
        for p in block.points:
            assert p.table == block.table
            assert block.address <= p.address and p.address + p.span <= block.address + block.count
        used = sorted({r for p in block.points for r in range(p.address, p.address + p.span)})
        gaps = [b - a - 1 for a, b in itertools.pairwise(used)]
        assert all(g <= max_gap for g in gaps)
