from __future__ import annotations

from django import forms

from openkap.site.content import BODY_MAX, DESCRIPTION_MAX, TITLE_MAX


class SectionForm(forms.Form):
    title = forms.CharField(max_length=TITLE_MAX)
    description = forms.CharField(
        label="Summary", max_length=DESCRIPTION_MAX,
        help_text="One or two sentences: shown by search engines and in link previews.",
    )
    body = forms.CharField(
        label="Text (Markdown)", max_length=BODY_MAX, widget=forms.Textarea(attrs={"rows": 24}),
        help_text="## for headings, **bold**, *italic*, - for lists, [words](https://…) for links, "
        "| for tables. HTML is shown as text.",
    )
