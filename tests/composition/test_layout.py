"""Layout geometry: exact rectangles for every documented grid and PiP rule."""

from __future__ import annotations

from openstage.composition.layout import Member, Rect, Tile, layout, order

HD = (1280, 720)


def slots(tiles: list[Tile]) -> dict[str, Rect]:
    return {tile.participant_id: tile.slot for tile in tiles}


def test_one_participant_fills_the_canvas():
    (tile,) = layout([Member("a", video=HD)], {"grid": {}}, 1280, 720)
    assert tile == Tile("a", Rect(0, 0, 1280, 720), Rect(0, 0, 1280, 720), Rect(0, 0, 1280, 720))


def test_grid_of_three_picks_two_columns_and_centres_the_short_last_row():
    tiles = layout([Member(c, video=HD) for c in "abc"], {"grid": {}}, 1280, 720)
    assert slots(tiles) == {
        "a": Rect(0, 0, 638, 358),
        "b": Rect(640, 0, 638, 358),
        "c": Rect(320, 360, 638, 358),
    }


def test_grid_gap_separates_tiles():
    tiles = layout([Member(c, video=HD) for c in "abcd"], {"grid": {"gridGap": 10}}, 1280, 720)
    assert slots(tiles) == {
        "a": Rect(4, 0, 630, 354),
        "b": Rect(644, 0, 630, 354),
        "c": Rect(4, 364, 630, 354),
        "d": Rect(644, 364, 630, 354),
    }


def test_video_aspect_ratio_shapes_the_tiles():
    square = slots(layout([Member(c, video=HD) for c in "ab"], {"grid": {"videoAspectRatio": "SQUARE"}}, 1280, 720))
    assert square == {"a": Rect(0, 40, 638, 638), "b": Rect(640, 40, 638, 638)}
    portrait = slots(layout([Member("a", video=HD)], {"grid": {"videoAspectRatio": "PORTRAIT"}}, 1280, 720))
    assert portrait == {"a": Rect(370, 0, 540, 720)}
    auto = slots(layout([Member(c, video=HD) for c in "ab"], {"grid": {"videoAspectRatio": "AUTO"}}, 1280, 720))
    assert auto == {"a": Rect(0, 180, 638, 358), "b": Rect(640, 180, 638, 358)}


def test_cover_crops_the_centre_of_the_video():
    (tile,) = layout([Member("a", video=(640, 480))], {"grid": {}}, 1280, 720)
    assert tile.source == Rect(0, 60, 640, 360)
    assert tile.dest == Rect(0, 0, 1280, 720)


def test_contain_letterboxes_inside_the_slot():
    (tile,) = layout([Member("a", video=(640, 480))], {"grid": {"videoFillMode": "CONTAIN"}}, 1280, 720)
    assert tile.slot == Rect(0, 0, 1280, 720)
    assert tile.source == Rect(0, 0, 640, 480)
    assert tile.dest == Rect(160, 0, 960, 720)


def test_fill_stretches_the_whole_video():
    (tile,) = layout([Member("a", video=(640, 480))], {"grid": {"videoFillMode": "FILL"}}, 1280, 720)
    assert tile.source == Rect(0, 0, 640, 480)
    assert tile.dest == Rect(0, 0, 1280, 720)


def test_featured_participant_is_above_the_others_and_contained_by_default():
    members = [Member("a", video=HD), Member("b", {"star": "true"}, (640, 480)), Member("c", video=HD)]
    tiles = layout(members, {"grid": {"featuredParticipantAttribute": "star"}}, 1280, 720)
    assert [t.participant_id for t in tiles] == ["b", "a", "c"]
    featured, *others = tiles
    assert featured.slot == Rect(0, 0, 1280, 538)
    assert featured.dest == Rect(282, 0, 716, 538)  # CONTAIN: 4:3 inside the wide main slot
    assert [t.slot for t in others] == [Rect(318, 540, 320, 180), Rect(640, 540, 320, 180)]
    assert others[0].dest == others[0].slot  # COVER for the others


def test_featured_attribute_must_be_the_string_true():
    members = [Member("a", {"star": "yes"}, HD), Member("b", {"star": "True"}, HD)]
    tiles = layout(members, {"grid": {"featuredParticipantAttribute": "star"}}, 1280, 720)
    assert slots(tiles) == {"a": Rect(0, 180, 638, 358), "b": Rect(640, 180, 638, 358)}


def test_featured_alone_takes_the_canvas():
    (tile,) = layout([Member("a", {"star": "true"}, HD)], {"grid": {"featuredParticipantAttribute": "star"}}, 640, 360)
    assert tile.slot == Rect(0, 0, 640, 360)


def test_order_attribute_is_numeric_then_arrival():
    members = [
        Member("first-arrived"),
        Member("ten", {"pos": "10"}),
        Member("nine", {"pos": "9"}),
        Member("empty", {"pos": ""}),
        Member("word", {"pos": "x"}),
        Member("minus", {"pos": "-1.5"}),
    ]
    assert [m.participant_id for m in order(members, "pos")] == [
        "minus",
        "nine",
        "ten",
        "first-arrived",
        "empty",
        "word",
    ]
    assert [m.participant_id for m in order(members, "")] == [m.participant_id for m in members]


def test_order_attribute_decides_grid_positions():
    members = [Member("a", {"pos": "2"}, HD), Member("b", {"pos": "1"}, HD)]
    tiles = layout(members, {"grid": {"participantOrderAttribute": "pos"}}, 1280, 720)
    assert slots(tiles) == {"b": Rect(0, 180, 638, 358), "a": Rect(640, 180, 638, 358)}


def test_stopped_video_is_a_placeholder_or_omitted():
    members = [Member("a", video=HD), Member("b", video=HD, video_stopped=True)]
    kept = layout(members, {"grid": {}}, 1280, 720)
    assert kept[1] == Tile("b", Rect(640, 180, 638, 358), None, None)
    omitted = layout(members, {"grid": {"omitStoppedVideo": True}}, 1280, 720)
    assert slots(omitted) == {"a": Rect(0, 0, 1280, 720)}


def test_video_above_1080p_is_audio_only():
    (tile,) = layout([Member("a", video=(2560, 1440))], {"grid": {}}, 1280, 720)
    assert tile.source is None and tile.dest is None


def test_pip_in_each_corner_with_offset():
    members = [Member("main", video=HD), Member("small", {"pip": "true"}, (640, 480))]
    expected = {
        "TOP_LEFT": Rect(10, 10, 320, 240),
        "TOP_RIGHT": Rect(950, 10, 320, 240),
        "BOTTOM_LEFT": Rect(10, 470, 320, 240),
        "BOTTOM_RIGHT": Rect(950, 470, 320, 240),
    }
    for position, rect in expected.items():
        config = {"pip": {"pipParticipantAttribute": "pip", "pipOffset": 10, "pipPosition": position}}
        main, small = layout(members, config, 1280, 720)
        assert main.slot == Rect(0, 0, 1280, 720)
        assert small == Tile("small", rect, Rect(0, 0, 640, 480), rect)


def test_pip_size_defaults_and_explicit_sizes():
    members = [Member("main", video=HD), Member("small", {"pip": "true"}, HD)]
    base = {"pipParticipantAttribute": "pip"}
    assert layout(members, {"pip": base}, 1280, 720)[1].slot == Rect(960, 540, 320, 180)
    assert layout(members, {"pip": {**base, "pipWidth": 400}}, 1280, 720)[1].slot == Rect(880, 496, 400, 224)
    assert layout(members, {"pip": {**base, "pipHeight": 90}}, 1280, 720)[1].slot == Rect(1120, 630, 160, 90)
    sized = {**base, "pipWidth": 300, "pipHeight": 300}
    assert layout(members, {"pip": sized}, 1280, 720)[1].slot == Rect(980, 420, 300, 300)


def test_pip_static_keeps_its_corner_dynamic_expands_when_alone():
    alone = [Member("small", {"pip": "true"}, HD)]
    static = layout(alone, {"pip": {"pipParticipantAttribute": "pip"}}, 1280, 720)
    assert slots(static) == {"small": Rect(960, 540, 320, 180)}
    dynamic = layout(alone, {"pip": {"pipParticipantAttribute": "pip", "pipBehavior": "DYNAMIC"}}, 1280, 720)
    assert slots(dynamic) == {"small": Rect(0, 0, 1280, 720)}


def test_pip_others_share_the_canvas_as_a_grid():
    members = [Member("a", video=HD), Member("b", video=HD), Member("small", {"pip": "true"}, HD)]
    tiles = layout(members, {"pip": {"pipParticipantAttribute": "pip", "gridGap": 4}}, 1280, 720)
    assert slots(tiles) == {
        "a": Rect(0, 180, 638, 358),
        "b": Rect(642, 180, 638, 358),
        "small": Rect(960, 540, 320, 180),
    }
    assert [t.participant_id for t in tiles][-1] == "small"  # drawn last, on top


def test_pip_without_pip_participant_is_a_plain_grid():
    tiles = layout([Member("a", video=HD)], {"pip": {}}, 1280, 720)
    assert slots(tiles) == {"a": Rect(0, 0, 1280, 720)}


def test_no_participants_no_tiles():
    assert layout([], {"grid": {}}, 1280, 720) == []
    assert layout([], {"pip": {"pipParticipantAttribute": "pip"}}, 1280, 720) == []
