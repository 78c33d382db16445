"""The calendar's booking slots written by a tag (ADR 0113) are the bytes the template loop
wrote: any label, query and style (quotes, <, &, accents), any booking address."""

from __future__ import annotations

from django.template import Context, Template
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.profiles import examples

# The loop the tag replaced, kept as the oracle.
LOOP = Template('{% for style, query, label in slots %}<a class="cal-slot" tabindex="-1" aria-hidden="true" '
                'data-slot="{{ label }}" href="{{ book_url }}?{{ query }}" style="{{ style }}"></a>{% endfor %}')
TAG = Template("{% load scheduling_tags %}{% calendar_slots slots book_url %}")
text = st.text(alphabet=st.sampled_from("aZ09 :;/&=<>\"'é-"), max_size=12)


@settings(max_examples=examples(200), deadline=None)
@given(slots=st.lists(st.tuples(text, text, text), max_size=6), book_url=text)
def test_the_tag_writes_what_the_loop_wrote(slots, book_url):
    context = {"slots": slots, "book_url": book_url}
    assert TAG.render(Context(context)) == LOOP.render(Context(context))


def test_a_day_of_slots_as_the_calendar_builds_them():
    slots = [("grid-column: 2; grid-row: 2 / span 2", "room=3&start=2026-12-07T08:00", "Room \"A\" & <B> 08:00")]
    context = {"slots": slots, "book_url": "/schedule/book/"}
    html = TAG.render(Context(context))
    assert html == LOOP.render(Context(context))
    assert 'data-slot="Room &quot;A&quot; &amp; &lt;B&gt; 08:00"' in html
    assert "?room=3&amp;start=" in html
