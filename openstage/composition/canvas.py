"""Paints tiles into one YUV 4:2:0 picture: the compositor's drawing, kept apart from its timing.

Each participant's latest picture is scaled once per (picture, tile) by FFmpeg's scaler (so
that the tile's ``source`` rectangle becomes exactly its ``dest`` size) and cropped; pasting
is numpy slicing into the canvas planes. Rectangles are even (layout.py), so chroma lines up.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from openstage.composition.layout import Rect, Tile, even

# Limited-range YUV: black behind the tiles, dark grey where a participant has no picture.
BACKGROUND = (16, 128, 128)
PLACEHOLDER = (48, 128, 128)

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class _Scaled:
    frame: av.VideoFrame
    source: Rect
    dest: Rect
    planes: Planes


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._cache: dict[str, _Scaled] = {}

    def paint(self, tiles: list[Tile], pictures: dict[str, av.VideoFrame]) -> av.VideoFrame:
        """A new frame with ``tiles`` drawn back to front; ``pictures`` maps participant id to its latest picture."""
        y = np.full((self.height, self.width), BACKGROUND[0], np.uint8)
        u = np.full((self.height // 2, self.width // 2), BACKGROUND[1], np.uint8)
        v = np.full((self.height // 2, self.width // 2), BACKGROUND[2], np.uint8)
        drawn: set[str] = set()
        for tile in tiles:
            picture = pictures.get(tile.participant_id)
            if tile.source is None or tile.dest is None or picture is None:
                _fill((y, u, v), tile.slot, PLACEHOLDER)
                continue
            _paste((y, u, v), tile.dest, self._scaled(tile.participant_id, picture, tile.source, tile.dest))
            drawn.add(tile.participant_id)
        for gone in self._cache.keys() - drawn:
            del self._cache[gone]
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for plane, data in zip(planes_of(frame), (y, u, v), strict=True):
            plane[:] = data
        return frame

    def _scaled(self, participant_id: str, picture: av.VideoFrame, source: Rect, dest: Rect) -> Planes:
        cached = self._cache.get(participant_id)
        if cached is not None and cached.frame is picture and cached.source == source and cached.dest == dest:
            return cached.planes
        planes = scale_crop(picture, source, dest)
        self._cache[participant_id] = _Scaled(picture, source, dest, planes)
        return planes


def scale_crop(picture: av.VideoFrame, source: Rect, dest: Rect) -> Planes:
    """The ``source`` rectangle of ``picture`` at ``dest``'s size, as Y, U, V planes (copies)."""
    scale_x, scale_y = dest.width / source.width, dest.height / source.height
    width = max(even(picture.width * scale_x + 1), dest.width)
    height = max(even(picture.height * scale_y + 1), dest.height)
    y, u, v = planes_of(picture.reformat(width=width, height=height, format="yuv420p"))
    left = min(even(source.x * scale_x), width - dest.width)
    top = min(even(source.y * scale_y), height - dest.height)
    return (
        y[top : top + dest.height, left : left + dest.width].copy(),
        u[top // 2 : (top + dest.height) // 2, left // 2 : (left + dest.width) // 2].copy(),
        v[top // 2 : (top + dest.height) // 2, left // 2 : (left + dest.width) // 2].copy(),
    )


def planes_of(frame: av.VideoFrame) -> Planes:
    """Writable views of a yuv420p frame's planes, without their line padding."""
    views = []
    for index, plane in enumerate(frame.planes):
        width, height = (frame.width, frame.height) if index == 0 else (frame.width // 2, frame.height // 2)
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        views.append(rows[:height, :width])
    return views[0], views[1], views[2]


def _paste(planes: Planes, at: Rect, picture: Planes) -> None:
    y, u, v = planes
    y[at.y : at.y + at.height, at.x : at.x + at.width] = picture[0]
    u[at.y // 2 : (at.y + at.height) // 2, at.x // 2 : (at.x + at.width) // 2] = picture[1]
    v[at.y // 2 : (at.y + at.height) // 2, at.x // 2 : (at.x + at.width) // 2] = picture[2]


def _fill(planes: Planes, at: Rect, colour: tuple[int, int, int]) -> None:
    y, u, v = planes
    y[at.y : at.y + at.height, at.x : at.x + at.width] = colour[0]
    u[at.y // 2 : (at.y + at.height) // 2, at.x // 2 : (at.x + at.width) // 2] = colour[1]
    v[at.y // 2 : (at.y + at.height) // 2, at.x // 2 : (at.x + at.width) // 2] = colour[2]
