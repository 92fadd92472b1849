"""Which requests read a device's points: adjacent points of one table share one block read.

Pure planning, no I/O. A block may skip up to ``max_gap`` unused registers to join two points (fewer
requests, at the price of reading registers nobody asked for: some devices refuse reads of gaps, so the
default is 0) and never exceeds ``max_block`` registers (125 is the spec's limit for one read; coils and
discrete inputs allow 2000 bits, but a block of points that many is rare, so the same limit applies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wisgate.industrial.config import PointSection


@dataclass(frozen=True)
class Block:
    table: str
    address: int
    count: int
    points: tuple[PointSection, ...]

    def slice_for(self, point: PointSection, values: Sequence[int]) -> list[int]:
        start = point.address - self.address
        return list(values[start:start + point.span])


def plan_blocks(points: Sequence[PointSection], *, max_gap: int = 0, max_block: int = 125) -> list[Block]:
    """Blocks covering every point once, in table and address order."""
    blocks: list[Block] = []
    ordered = sorted(points, key=lambda p: (p.table, p.address, p.span))
    current: list[PointSection] = []
    start = end = 0
    for point in ordered:
        point_end = point.address + point.span
        joins = (current and current[0].table == point.table and point.address <= end + max_gap
                 and max(end, point_end) - start <= max_block)
        if joins:
            current.append(point)
            end = max(end, point_end)
            continue
        if current:
            blocks.append(Block(current[0].table, start, end - start, tuple(current)))
        current, start, end = [point], point.address, point_end
    if current:
        blocks.append(Block(current[0].table, start, end - start, tuple(current)))
    return blocks
