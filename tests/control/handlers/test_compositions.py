"""GetComposition and ListCompositions over seeded rows, through boto3.

The tests seed composition rows (and the encoder/storage references StartComposition records)
into the server's database, to check exactly what Get and List answer for each shape of row;
StartComposition and StopComposition themselves are tested in tests/composition/test_api.py.
Stopped rows end a minute ago: older ones are already gone from Get and List (docs 5.2).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from openstage.store.models import Tag
from tests.seed import EPOCH, arn, composition, references, seed
from tests.shapes import assert_matches_output

MAX_PAGES = 200
# Whole seconds; a stopped composition seeded from here ended a minute ago (it runs five minutes).
RECENT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=6)


@pytest.fixture
def stage_arn(ivs) -> str:
    return ivs.create_stage(name="composed")["stage"]["arn"]


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    return error.value.response


def _list_all(ivs: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    """Every composition across pages, and how many pages it took; a token that never runs out fails, not hangs."""
    items: list[dict[str, Any]] = []
    for pages in range(1, MAX_PAGES + 1):
        page = ivs.list_compositions(**kwargs)
        assert_matches_output("ListCompositions", page)
        items += page["compositions"]
        if "nextToken" not in page:
            return items, pages
        kwargs["nextToken"] = page["nextToken"]
    raise AssertionError(f"ListCompositions still had a nextToken after {MAX_PAGES} pages")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_get_composition_not_found(ivs):
    missing = arn("composition")
    response = _error(ivs.get_composition, arn=missing)
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert missing in response["Error"]["Message"]


def test_get_composition_returns_the_full_resource(ivs, server, stage_arn):
    encoder = arn("encoder-configuration")
    row = composition(stage_arn, encoder, state="STOPPED", start=RECENT)
    seed(server, row, *references(row), Tag(resource_arn=row.arn, key="show", value="morning"))
    response = ivs.get_composition(arn=row.arn)
    assert_matches_output("GetComposition", response)
    got = response["composition"]
    assert {k: got[k] for k in ("arn", "stageArn", "state", "layout", "tags", "startTime", "endTime")} == {
        "arn": row.arn,
        "stageArn": stage_arn,
        "state": "STOPPED",
        "layout": {"grid": {"featuredParticipantAttribute": "", "gridGap": 2, "omitStoppedVideo": False}},
        "tags": {"show": "morning"},
        "startTime": RECENT,
        "endTime": RECENT + timedelta(minutes=5),
    }
    assert len(got["destinations"]) == 2
    for answered, stored in zip(got["destinations"], row.destinations, strict=True):
        assert answered["id"] == stored["id"]
        assert answered["state"] == "STOPPED"
        assert answered["configuration"] == stored["configuration"]
        assert answered["startTime"] == _at(stored["startTime"])
        assert answered["endTime"] == _at(stored["endTime"])
    assert "detail" not in got["destinations"][0]
    assert got["destinations"][1]["detail"] == row.destinations[1]["detail"]


def test_active_composition_has_no_end_times(ivs, server, stage_arn):
    row = composition(stage_arn, arn("encoder-configuration"))
    seed(server, row)
    got = ivs.get_composition(arn=row.arn)["composition"]
    assert got["state"] == "ACTIVE" and got["tags"] == {}
    assert "endTime" not in got
    assert all("endTime" not in d and d["state"] == "ACTIVE" for d in got["destinations"])


def test_list_compositions_by_stage_newest_first_with_summaries(ivs, server, stage_arn):
    other_stage = ivs.create_stage(name="elsewhere")["stage"]["arn"]
    encoder = arn("encoder-configuration")
    older = composition(stage_arn, encoder, state="STOPPED", start=RECENT)
    newer = composition(stage_arn, encoder, start=RECENT + timedelta(minutes=1))
    theirs = composition(other_stage, encoder)
    seed(server, older, theirs, newer)
    response = ivs.list_compositions(filterByStageArn=stage_arn)
    assert_matches_output("ListCompositions", response)
    assert "nextToken" not in response
    assert [c["arn"] for c in response["compositions"]] == [newer.arn, older.arn]
    assert response["compositions"][1] == {
        "arn": older.arn,
        "stageArn": stage_arn,
        "destinations": [
            {
                "id": d["id"],
                "state": "STOPPED",
                "startTime": RECENT + timedelta(seconds=2),
                "endTime": RECENT + timedelta(minutes=5),
            }
            for d in older.destinations
        ],
        "state": "STOPPED",
        "startTime": RECENT,
        "endTime": RECENT + timedelta(minutes=5),
        "tags": {},
    }


def test_list_compositions_by_encoder_configuration(ivs, server, stage_arn):
    wide, narrow = arn("encoder-configuration"), arn("encoder-configuration")
    uses_wide = [composition(stage_arn, wide) for _ in range(2)]
    uses_narrow = composition(stage_arn, narrow)
    elsewhere = composition(arn("stage"), wide)
    rows = [*uses_wide, uses_narrow, elsewhere]
    seed(server, *rows, *[ref for row in rows for ref in references(row)])

    by_encoder, _ = _list_all(ivs, filterByEncoderConfigurationArn=wide)
    assert [c["arn"] for c in by_encoder] == [elsewhere.arn, uses_wide[1].arn, uses_wide[0].arn]
    by_both, _ = _list_all(ivs, filterByEncoderConfigurationArn=wide, filterByStageArn=stage_arn)
    assert [c["arn"] for c in by_both] == [uses_wide[1].arn, uses_wide[0].arn]
    by_narrow, _ = _list_all(ivs, filterByEncoderConfigurationArn=narrow)
    assert [c["arn"] for c in by_narrow] == [uses_narrow.arn]
    unused, _ = _list_all(ivs, filterByEncoderConfigurationArn=arn("encoder-configuration"))
    assert unused == []


def test_list_compositions_pages_and_binds_tokens_to_filters(ivs, server, stage_arn):
    rows = [composition(stage_arn, arn("encoder-configuration"), start=EPOCH + timedelta(minutes=i)) for i in range(3)]
    seed(server, *rows)
    listed, pages = _list_all(ivs, filterByStageArn=stage_arn, maxResults=1)
    assert pages == 3
    assert [c["arn"] for c in listed] == [row.arn for row in reversed(rows)]
    token = ivs.list_compositions(filterByStageArn=stage_arn, maxResults=1)["nextToken"]
    response = _error(ivs.list_compositions, filterByStageArn=arn("stage"), nextToken=token)
    assert response["Error"]["Code"] == "ValidationException"
    assert "nextToken" in response["Error"]["Message"]


def test_list_compositions_default_page_is_100(ivs, server, stage_arn):
    seed(server, *[composition(stage_arn, arn("encoder-configuration")) for _ in range(101)])
    first = ivs.list_compositions(filterByStageArn=stage_arn)
    assert_matches_output("ListCompositions", first)
    assert len(first["compositions"]) == 100
    rest = ivs.list_compositions(filterByStageArn=stage_arn, nextToken=first["nextToken"])
    assert len(rest["compositions"]) == 1


def test_list_compositions_of_a_stage_without_any_is_empty(ivs, stage_arn):
    response = ivs.list_compositions(filterByStageArn=stage_arn)
    assert_matches_output("ListCompositions", response)
    assert response["compositions"] == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filterByStageArn": "arn:aws:ivs:us-east-1:123456789012:channel/AbCdEf123456"},
        {"filterByEncoderConfigurationArn": "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456"},
        {"maxResults": 101},
    ],
)
def test_list_compositions_validation(raw_ivs, kwargs):
    response = _error(raw_ivs.list_compositions, **kwargs)
    assert response["Error"]["Code"] == "ValidationException"
    assert next(iter(kwargs)) in response["Error"]["Message"]
