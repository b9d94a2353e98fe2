"""Painting tiles: each picture lands scaled and cropped in its rectangle, placeholders where there is none."""

from __future__ import annotations

import av
import numpy as np

from openstage.composition.canvas import BACKGROUND, PLACEHOLDER, Canvas, planes_of
from openstage.composition.layout import Member, Rect, Tile, layout


def solid(width: int, height: int, yuv: tuple[int, int, int]) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, value in zip(planes_of(frame), yuv, strict=True):
        plane[:] = value
    return frame


def yuv_at(frame: av.VideoFrame, x: int, y: int) -> tuple[int, int, int]:
    luma, u, v = planes_of(frame)
    return int(luma[y, x]), int(u[y // 2, x // 2]), int(v[y // 2, x // 2])


def test_tiles_background_and_placeholder():
    pictures = {"a": solid(320, 240, (81, 90, 240)), "b": solid(640, 360, (145, 54, 34))}
    members = [Member("a", video=(320, 240)), Member("b", video=(640, 360)), Member("c")]
    tiles = layout(members, {"grid": {}}, 640, 360)
    frame = Canvas(640, 360).paint(tiles, pictures)
    assert (frame.width, frame.height, frame.format.name) == (640, 360, "yuv420p")
    slots = {tile.participant_id: tile.slot for tile in tiles}
    for participant, colour in (("a", (81, 90, 240)), ("b", (145, 54, 34)), ("c", PLACEHOLDER)):
        slot = slots[participant]
        assert yuv_at(frame, slot.x + slot.width // 2, slot.y + slot.height // 2) == colour
        assert yuv_at(frame, slot.x + 2, slot.y + 2) == colour  # the whole slot, to its corners
    last = slots["c"]
    assert yuv_at(frame, last.x - 4, last.y + 4) == BACKGROUND  # beside the centred last row


def test_contain_leaves_bars_and_cover_crops():
    picture = solid(320, 240, (81, 90, 240))
    slot = Rect(0, 0, 640, 360)
    contained = Tile("a", slot, Rect(0, 0, 320, 240), Rect(80, 0, 480, 360))
    frame = Canvas(640, 360).paint([contained], {"a": picture})
    assert yuv_at(frame, 40, 180) == BACKGROUND and yuv_at(frame, 320, 180) == (81, 90, 240)
    covered = Tile("a", slot, Rect(0, 30, 320, 180), slot)
    frame = Canvas(640, 360).paint([covered], {"a": picture})
    assert yuv_at(frame, 2, 2) == (81, 90, 240) and yuv_at(frame, 637, 357) == (81, 90, 240)


def test_odd_plane_heights_and_the_scaled_picture_is_reused():
    canvas = Canvas(642, 362)  # 362/2 = 181 chroma rows: no multiple of four anywhere
    picture = solid(320, 240, (41, 240, 110))
    tile = layout([Member("a", video=(320, 240))], {"grid": {}}, 642, 362)
    first = canvas.paint(tile, {"a": picture})
    second = canvas.paint(tile, {"a": picture})
    assert np.array_equal(first.to_ndarray(), second.to_ndarray())
    assert yuv_at(second, 321, 181) == (41, 240, 110)
