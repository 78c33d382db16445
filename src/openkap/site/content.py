"""The sections of the public site, their default text and the Markdown renderer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import nh3
from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from markdown_it import MarkdownIt

LANGUAGES = ("en", "es")
TITLE_MAX = 120
DESCRIPTION_MAX = 300
BODY_MAX = 20_000


@dataclass(frozen=True)
class Section:
    key: str
    url_name: str
    nav_label: str | Promise


# In the order of the site's navigation; each is one page.
SECTIONS: tuple[Section, ...] = (
    Section("home", "web:home", _("About KAP")),
    Section("routes", "site:routes", _("Routes compared")),
    Section("safety", "site:safety", _("Side effects and safety")),
    Section("eligibility", "site:eligibility", _("Who may not be eligible")),
    Section("sessions", "site:sessions", _("What a session is like")),
    Section("costs", "site:costs", _("Costs and questions")),
    Section("contact", "site:contact", _("Contact")),
)
SECTION_KEYS = tuple(s.key for s in SECTIONS)


@dataclass(frozen=True)
class Text:
    title: str
    description: str
    body: str  # Markdown


@cache
def default_text(key: str, language: str) -> Text:
    """The text shipped with OpenKAP: ``content/<language>/<key>.md``, a header of
    ``title:`` and ``description:`` lines, a ``---`` line, then Markdown."""
    raw = resources.files("openkap.site").joinpath("content", language, f"{key}.md").read_text("utf-8")
    header, _sep, body = raw.partition("\n---\n")
    fields = dict(line.split(": ", 1) for line in header.splitlines())
    return Text(fields["title"], fields["description"], body.strip() + "\n")


_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

_TAGS = {"p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "a", "blockquote", "code", "pre",
         "hr", "br", "table", "thead", "tbody", "tr", "th", "td"}
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}


def render_markdown(text: str) -> str:
    """Markdown to HTML that is safe to show on a public page. Raw HTML in the source is
    shown as text (markdown-it with html off); nh3 then keeps only the tags above and
    http(s), mailto and tel links, so a script cannot come through either way. Headings
    start at h2, under the page's own h1; tables scroll on their own on a phone."""
    tokens = _md.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close") and token.tag in ("h1",):
            token.tag = "h2"
        if token.type in ("heading_open", "heading_close") and token.tag in ("h5", "h6"):
            token.tag = "h4"
    html = _md.renderer.render(tokens, _md.options, {})
    clean = nh3.clean(
        html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer", filter_style_properties={"text-align"},
    )
    label = _("Table (scrolls sideways)")
    return clean.replace(
        "<table>", f'<div class="table-scroll" tabindex="0" role="region" aria-label="{label}"><table>'
    ).replace("</table>", "</table></div>")


def clean_section_text(*, title: str, description: str, body: str) -> dict[str, str]:
    """The checks a section's text must pass, shared by preview and publish."""
    title, description, body = title.strip(), " ".join(description.split()), body.strip()
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = "Give the page a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"A title is at most {TITLE_MAX} characters (this one has {len(title)})."
    if not description:
        errors["description"] = "Give a one-sentence summary: search engines and link previews show it."
    elif len(description) > DESCRIPTION_MAX:
        errors["description"] = f"A summary is at most {DESCRIPTION_MAX} characters (this one has {len(description)})."
    if not body:
        errors["body"] = "The page needs some text."
    elif len(body) > BODY_MAX:
        errors["body"] = f"A section is at most {BODY_MAX:,} characters (this one has {len(body):,})."
    if errors:
        raise ValidationError(errors)
    return {"title": title, "description": description, "body": body + "\n"}
