"""Issue 12: a protocol's source address is an http(s) URL or a DOI, nothing else (the
protocol page renders it as a link)."""

from __future__ import annotations

import pytest

from openkap.core.protocols import ProtocolError, parse_protocol
from openkap.core.protocols.schema import Source

from .helpers import example_dict


def _with_url(url: str):
    data = example_dict("im-ketamine")
    data["sources"][0]["url"] = url
    return parse_protocol(data)


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("https://pmc.ncbi.nlm.nih.gov/articles/PMC4093926", "https://pmc.ncbi.nlm.nih.gov/articles/PMC4093926"),
        ("http://example.org/label.pdf#page=3", "http://example.org/label.pdf#page=3"),
        ("HTTPS://EXAMPLE.ORG", "HTTPS://EXAMPLE.ORG"),
        # DOI Handbook: "10." + registrant code + "/" + suffix; resolved at doi.org.
        ("10.1080/02791072.2019.1587556", "https://doi.org/10.1080/02791072.2019.1587556"),
        ("doi:10.1001/jamapsychiatry.2017.0080", "https://doi.org/10.1001/jamapsychiatry.2017.0080"),
    ],
)
def test_http_urls_and_dois_are_accepted_and_linked(url: str, href: str) -> None:
    assert _with_url(url).sources[0].href == href


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.org/x",
        "//evil.example/x",
        "https://",
        "https://user@evil.example/",
        "https://example.org/\"onmouseover=\"x",
        "see the label",
        "10.1080",
        "",
    ],
)
def test_other_addresses_are_refused_by_name(url: str) -> None:
    with pytest.raises(ProtocolError, match=r"sources\[0\]\.url: .*neither an http\(s\) address"):
        _with_url(url)


def test_source_without_url_has_no_link() -> None:
    assert Source(citation="Ketalar label").href is None
