"""Download link tokens: any gateway holding the cluster's key honours another's links; an
altered, expired or foreign-key link is refused naming why."""

from __future__ import annotations

import pytest

from gateway.configuration.keys import ConfigKeys, new_key
from gateway.errors import Forbidden, NotFound
from gateway.flow.download_links import DownloadLinks, LinkTarget, derive_key

TARGET = LinkTarget("default", "countries", "/invoices", "2026-001.pdf", "tenant-1")


def test_a_link_made_by_one_gateway_is_honoured_by_another_with_the_same_key() -> None:
    shared = new_key()
    first = DownloadLinks(derive_key(ConfigKeys([shared], "a").first), 300)
    second = DownloadLinks(derive_key(ConfigKeys([shared, new_key()], "b").first), 300)
    assert second.verify(first.token(TARGET), "countries") == TARGET


def test_another_clusters_key_an_edit_or_the_clock_refuse_it() -> None:
    now = [1_000_000.0]
    links = DownloadLinks(derive_key(b"cluster one"), 300, clock=lambda: now[0])
    token = links.token(TARGET)
    other = DownloadLinks(derive_key(b"cluster two"), 300, clock=lambda: now[0])
    with pytest.raises(Forbidden) as forged:
        other.verify(token, "countries")
    assert forged.value.code == "forged_download_link"
    with pytest.raises(Forbidden) as elsewhere:
        links.verify(token, "shop")
    assert "for service 'countries', not 'shop'" in elsewhere.value.message
    with pytest.raises(NotFound) as malformed:
        links.verify("x" * 5000, "countries")
    assert malformed.value.code == "malformed_download_link"
    now[0] += 299
    assert links.verify(token, "countries") == TARGET
    now[0] += 1
    with pytest.raises(Forbidden) as expired:
        links.verify(token, "countries")
    assert expired.value.code == "expired_download_link"
    assert "expired at 1970-01-12T13:51:40Z (links live 300 s" in expired.value.message
