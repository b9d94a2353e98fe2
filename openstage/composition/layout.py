"""Where each participant goes on the canvas: pure functions of (participants, layout configuration, canvas size).

IVS documents the rules of its grid and picture-in-picture layouts but not their pixel
geometry (docs 5.3), so openstage fixes one: the rules below, with every rectangle on even
coordinates and of even size, so the YUV 4:2:0 chroma planes of a tile line up with its luma.

- Grid: the shown participants in order (numeric ``participantOrderAttribute`` first, then
  arrival) in equally sized tiles of the ``videoAspectRatio`` (AUTO: the canvas's), as many
  columns as gives the largest tile, ``gridGap`` between tiles, the block centred and a short
  last row centred. A featured participant takes the full width above a bottom row holding
  the others (a quarter of the canvas height).
- PiP: the others laid out as a grid over the whole canvas (tiles of the canvas's shape), the
  PiP participant on top in its corner, ``pipOffset`` from both nearest edges; its default
  width is a quarter of the canvas and its height follows its video's aspect ratio. DYNAMIC
  expands it to the full canvas when nobody else is shown.
- Fill modes: FILL stretches the whole video to the tile, COVER crops it to the tile's shape,
  CONTAIN letterboxes it inside the tile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ASPECT_RATIOS = {"VIDEO": 16 / 9, "SQUARE": 1.0, "PORTRAIT": 3 / 4}
FEATURED_STRIP = 0.25  # share of the canvas height the others get below a featured participant
PIP_SHARE = 0.25  # default PiP width as a share of the canvas width
MAX_VIDEO_PIXELS = 1920 * 1080  # larger publisher video is composed as audio-only (docs 5.3)
FALLBACK_ASPECT = 16 / 9  # a participant without video still gets a tile of this shape

# What StartComposition echoes for each layout (AWS's CLI examples, docs 5.1); an unset grid
# videoFillMode echoes "" and means COVER for tiles, CONTAIN for the featured participant.
GRID_DEFAULTS: dict[str, Any] = {
    "featuredParticipantAttribute": "",
    "gridGap": 2,
    "omitStoppedVideo": False,
    "participantOrderAttribute": "",
    "videoAspectRatio": "VIDEO",
    "videoFillMode": "",
}
PIP_DEFAULTS: dict[str, Any] = {
    "featuredParticipantAttribute": "",
    "gridGap": 0,
    "omitStoppedVideo": False,
    "participantOrderAttribute": "",
    "pipBehavior": "STATIC",
    "pipOffset": 0,
    "pipParticipantAttribute": "",
    "pipPosition": "BOTTOM_RIGHT",
    "videoFillMode": "COVER",
}


def with_defaults(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The layout as StartComposition echoes it: grid unless PiP is asked for, every default filled in."""
    given = given or {}
    if given.get("pip") is not None:
        return {"pip": {**PIP_DEFAULTS, **given["pip"]}}
    return {"grid": {**GRID_DEFAULTS, **(given.get("grid") or {})}}


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Member:
    """A participant as the layout sees it. ``video`` is its picture's size, None while it has none."""

    participant_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    video: tuple[int, int] | None = None
    video_stopped: bool = False


@dataclass(frozen=True)
class Tile:
    """``slot`` is the participant's place; its picture is ``source`` (pixels of its video) drawn into ``dest``.

    Both are None for a participant without video: the slot shows a placeholder.
    """

    participant_id: str
    slot: Rect
    source: Rect | None
    dest: Rect | None


def even(value: float) -> int:
    return int(value) // 2 * 2


def layout(members: Sequence[Member], config: Mapping[str, Any], width: int, height: int) -> list[Tile]:
    """Tiles, back to front, for a layout configuration as StartComposition echoes it ({"grid": …} or {"pip": …})."""
    if "pip" in config:
        return pip_layout(members, config["pip"], width, height)
    return grid_layout(members, config.get("grid", {}), width, height)


def order(members: Sequence[Member], attribute: str) -> list[Member]:
    """Numeric values of ``attribute`` ascending, then participants lacking one (or with "") by arrival."""

    def key(indexed: tuple[int, Member]) -> tuple[int, float, int]:
        arrival, member = indexed
        value = _number(member.attributes.get(attribute, "")) if attribute else None
        return (1, 0.0, arrival) if value is None else (0, value, arrival)

    return [member for _, member in sorted(enumerate(members), key=key)]


def grid_layout(members: Sequence[Member], grid: Mapping[str, Any], width: int, height: int) -> list[Tile]:
    shown = order(_visible(members, grid), grid.get("participantOrderAttribute", ""))
    gap = grid.get("gridGap", 2)
    aspect = ASPECT_RATIOS.get(grid.get("videoAspectRatio") or "VIDEO", width / height)
    fill = grid.get("videoFillMode") or ""
    featured = _flagged(shown, grid.get("featuredParticipantAttribute", ""))
    if featured is None:
        return _grid(shown, Rect(0, 0, width, height), gap, aspect, fill or "COVER")
    others = [m for m in shown if m is not featured]
    if not others:
        return [_tile(featured, Rect(0, 0, width, height), fill or "CONTAIN")]
    strip_height = even(height * FEATURED_STRIP)
    main = Rect(0, 0, width, even(height - strip_height - gap))
    strip = Rect(0, height - strip_height, width, strip_height)
    return [_tile(featured, main, fill or "CONTAIN"), *_row(others, strip, gap, aspect, fill or "COVER")]


def pip_layout(members: Sequence[Member], pip: Mapping[str, Any], width: int, height: int) -> list[Tile]:
    shown = order(_visible(members, pip), pip.get("participantOrderAttribute", ""))
    fill = pip.get("videoFillMode") or "COVER"
    inset = _flagged(shown, pip.get("pipParticipantAttribute", ""))
    rest = [m for m in shown if m is not inset]
    canvas = Rect(0, 0, width, height)
    tiles = _main(rest, pip, canvas, fill)
    if inset is None:
        return tiles
    if not rest and pip.get("pipBehavior", "STATIC") == "DYNAMIC":
        return [_tile(inset, canvas, fill)]
    return [*tiles, _tile(inset, _pip_rect(inset, pip, width, height), fill)]


def _main(members: list[Member], pip: Mapping[str, Any], canvas: Rect, fill: str) -> list[Tile]:
    """The participants under the PiP window: a grid, with its own featured participant if any."""
    return grid_layout(
        members,
        {
            "gridGap": pip.get("gridGap", 0),
            "videoAspectRatio": "AUTO",
            "videoFillMode": fill,
            "featuredParticipantAttribute": pip.get("featuredParticipantAttribute", ""),
        },
        canvas.width,
        canvas.height,
    )


def _pip_rect(member: Member, pip: Mapping[str, Any], width: int, height: int) -> Rect:
    aspect = _aspect(member)
    given_width, given_height = pip.get("pipWidth"), pip.get("pipHeight")
    if given_width and given_height:
        w, h = given_width, given_height
    elif given_height:
        w, h = given_height * aspect, given_height
    else:
        w = given_width or width * PIP_SHARE
        h = w / aspect
    w, h = min(even(w), width), min(even(h), height)
    offset = pip.get("pipOffset", 0)
    position = pip.get("pipPosition", "BOTTOM_RIGHT")
    x = offset if position.endswith("LEFT") else width - w - offset
    y = offset if position.startswith("TOP") else height - h - offset
    return Rect(even(max(x, 0)), even(max(y, 0)), w, h)


def _grid(members: list[Member], area: Rect, gap: int, aspect: float, fill: str) -> list[Tile]:
    if not members:
        return []
    count = len(members)
    best: tuple[float, int] | None = None  # (tile width, columns); the fewest columns win a tie
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        w = min((area.width - gap * (columns - 1)) / columns, (area.height - gap * (rows - 1)) / rows * aspect)
        if w >= 2 and (best is None or w > best[0]):
            best = (w, columns)
    if best is None:
        return []
    w, columns = best
    tile_w, tile_h = even(w), even(w / aspect)
    rows = math.ceil(count / columns)
    top = area.y + even((area.height - rows * tile_h - (rows - 1) * gap) / 2)
    tiles = []
    for row in range(rows):
        in_row = members[row * columns : (row + 1) * columns]
        row_area = Rect(area.x, top + row * (tile_h + gap), area.width, tile_h)
        tiles += _place_row(in_row, row_area, tile_w, tile_h, gap, fill)
    return tiles


def _row(members: list[Member], area: Rect, gap: int, aspect: float, fill: str) -> list[Tile]:
    """One centred row of equal tiles, as tall as ``area`` unless the width runs out first."""
    count = len(members)
    w = min((area.width - gap * (count - 1)) / count, area.height * aspect)
    tile_w, tile_h = even(w), even(w / aspect)
    row_area = Rect(area.x, area.y + even((area.height - tile_h) / 2), area.width, tile_h)
    return _place_row(members, row_area, tile_w, tile_h, gap, fill)


def _place_row(members: list[Member], area: Rect, tile_w: int, tile_h: int, gap: int, fill: str) -> list[Tile]:
    used = len(members) * tile_w + (len(members) - 1) * gap
    left = area.x + even((area.width - used) / 2)
    return [
        _tile(member, Rect(even(left + i * (tile_w + gap)), area.y, tile_w, tile_h), fill)
        for i, member in enumerate(members)
    ]


def _tile(member: Member, slot: Rect, fill: str) -> Tile:
    video = _video(member)
    if video is None:
        return Tile(member.participant_id, slot, None, None)
    vw, vh = video
    whole = Rect(0, 0, vw, vh)
    if fill == "FILL":
        return Tile(member.participant_id, slot, whole, slot)
    if fill == "CONTAIN":
        scale = min(slot.width / vw, slot.height / vh)
        w, h = min(even(vw * scale), slot.width), min(even(vh * scale), slot.height)
        dest = Rect(slot.x + even((slot.width - w) / 2), slot.y + even((slot.height - h) / 2), w, h)
        return Tile(member.participant_id, slot, whole, dest)
    scale = max(slot.width / vw, slot.height / vh)  # COVER
    w, h = min(even(slot.width / scale), vw), min(even(slot.height / scale), vh)
    source = Rect(even((vw - w) / 2), even((vh - h) / 2), w, h)
    return Tile(member.participant_id, slot, source, slot)


def _visible(members: Sequence[Member], config: Mapping[str, Any]) -> list[Member]:
    if config.get("omitStoppedVideo", False):
        return [m for m in members if not m.video_stopped]
    return list(members)


def _flagged(members: list[Member], attribute: str) -> Member | None:
    """The first participant (in order) whose ``attribute`` is the string "true"."""
    if not attribute:
        return None
    return next((m for m in members if m.attributes.get(attribute) == "true"), None)


def _video(member: Member) -> tuple[int, int] | None:
    if member.video_stopped or member.video is None:
        return None
    w, h = member.video
    if w < 2 or h < 2 or w * h > MAX_VIDEO_PIXELS:
        return None
    return member.video


def _aspect(member: Member) -> float:
    video = _video(member)
    return video[0] / video[1] if video else FALLBACK_ASPECT


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
