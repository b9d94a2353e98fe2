"""Settings that shape peer connections."""

from __future__ import annotations

import pytest

from openstage.config import ConfigError, Settings


def test_ice_addresses_are_parsed_and_checked():
    assert Settings(ice_addresses="127.0.0.1, ::1,").ice_address_list == ["127.0.0.1", "::1"]
    assert Settings().ice_address_list == []
    with pytest.raises(ConfigError, match="ice_addresses"):
        Settings(ice_addresses="127.0.0.1,example.com").validate()
