"""A tiny PNG writer for the digest's volume chart (zlib only, no Pillow).

Mail clients do not show SVG and block remote images, so the digest embeds a PNG
(``cid:``). The chart is bars on a plain background: an 8-bit RGB raster filled
with rectangles, filtered with filter type 0 and deflated. Labels and numbers go
in the HTML next to it (they are text there, so screen readers get them too).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

SIGNATURE = b"\x89PNG\r\n\x1a\n"
RGB = tuple[int, int, int]


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


class Canvas:
    def __init__(self, width: int, height: int, background: RGB = (255, 255, 255)) -> None:
        if not (0 < width <= 4000 and 0 < height <= 4000):
            raise ValueError("canvas size out of range")
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: RGB) -> None:
        """Fill [x0, x1) × [y0, y1), clipped to the canvas."""
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x0 >= x1 or y0 >= y1:
            return
        row = bytes(colour) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def png(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            SIGNATURE
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


BAR = (37, 99, 235)  # the site's accent blue
PREVIOUS = (203, 213, 225)  # the previous period, light grey
AXIS = (100, 116, 139)


def bar_chart(
    values: Sequence[int],
    *,
    previous: Sequence[int] = (),
    width: int = 480,
    height: int = 120,
) -> bytes:
    """Bars for ``values`` (e.g. articles per day), the previous period's as a lighter
    bar behind each one, on a baseline. Empty input draws the baseline only."""
    canvas = Canvas(width, height)
    margin, base = 4, height - 6
    canvas.rect(0, base, width, base + 2, AXIS)
    count = max(len(values), 1)
    top = max([*values, *previous, 1])
    slot = (width - 2 * margin) / count
    bar = max(1, int(slot * 0.7))
    for i, value in enumerate(values):
        x = margin + int(i * slot + (slot - bar) / 2)
        if i < len(previous) and previous[i]:
            h = max(1, round(previous[i] / top * (base - margin)))
            canvas.rect(x - 2, base - h, x + bar + 2, base, PREVIOUS)
        if value:
            h = max(1, round(value / top * (base - margin)))
            canvas.rect(x, base - h, x + bar, base, BAR)
    return canvas.png()
