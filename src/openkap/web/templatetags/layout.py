"""The base layout around every page, written in Python (ADR 0112): Django's template engine
spent about 1 ms of every page's CPU on it, a fifth of a chart page, for HTML that is the
same but for a few names and numbers. ``base.html`` keeps its two blocks (title, content)
between the three parts; tests/test_layout.py renders the old template beside these for
every kind of visitor and compares the bytes.

Every value comes from the template's context by the name the template read (a view's own
``actor`` or ``user`` wins over the context processors', as before) and is written through
``render_value_in_context``, as ``{{ }}`` writes it (escaped, localised). Translated
literals are not escaped, as ``{% translate "literal" %}`` does not escape them. Each
gettext call stands outside any f-string, where makemessages would not see it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import template
from django.conf import settings
from django.template.base import render_value_in_context
from django.template.context import Context
from django.templatetags.static import static
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import get_language, get_language_info, gettext

from openkap.web.context import href

register = template.Library()


def _writer(context: Context) -> Callable[[Any], str]:
    """How ``{{ value }}`` writes a value: text escaped (a str has nothing to localise: the
    short way), anything else through Django."""
    autoescape = context.autoescape

    def write(value: Any) -> str:
        if type(value) is str and autoescape:
            return escape(value)
        return render_value_in_context(value, context)

    return write


def _signed_in(context: Context) -> bool:
    return bool(getattr(context.get("user"), "is_authenticated", False))


@register.simple_tag(takes_context=True)
def layout_open(context: Context) -> SafeString:
    """Up to the title's text."""
    noscript = ""
    if _signed_in(context):
        refresh = render_value_in_context(int(context["idle_timeout_seconds"]) + 5, context)
        noscript = f'<noscript><meta http-equiv="refresh" content="{refresh}"></noscript>'
    return mark_safe(  # noqa: S308 - the one value is written as {{ }} writes it
        f'<!doctype html>\n<html lang="{render_value_in_context(get_language(), context)}">\n<head>\n'
        '  <meta charset="utf-8">\n'
        '  <meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"  {noscript}\n  <title>"
    )


@register.simple_tag(takes_context=True)
def layout_middle(context: Context) -> SafeString:
    """From the title's end to the content: the header, the way back and the messages."""
    v = _writer(context)
    parts = [
        " · OpenKAP</title>\n",
        f'  <link rel="icon" href="{v(static("openkap/favicon.svg"))}" type="image/svg+xml">\n',
        f'  <link rel="stylesheet" href="{v(static("openkap/app.css"))}">\n',
        f'  <script src="{v(static("openkap/htmx.min.js"))}" defer></script>\n',
        f'  <script src="{v(static("openkap/shell.js"))}" defer></script>\n',
        "</head>\n",
        f"<body hx-headers='{{\"X-CSRFToken\": \"{v(context.get('csrf_token', ''))}\"}}'",
    ]
    if _signed_in(context):
        parts.append(
            f' data-idle-timeout="{v(context.get("idle_timeout_seconds"))}"'
            f' data-session-url="{v(href("accounts:session_status"))}" data-login-url="{v(href("accounts:login"))}"'
        )
    parts += ['>\n<a class="skip" href="#main">', gettext("Skip to content"), "</a>\n"]
    if context.get("demo_mode"):
        parts += ['<aside class="demo-banner" aria-label="', gettext("Demo notice"), '">',
                  gettext("DEMO — fictional patients, not for clinical use"), "</aside>"]
    parts.append(f'\n<header class="top">\n  <a class="brand" href="{v(href("web:home"))}">OpenKAP</a>\n  ')
    actor = context.get("actor")
    if actor:
        parts.append(_header(context, actor))
    parts.append('\n</header>\n<main id="main">\n  ')
    way_back = context.get("way_back")
    if way_back:
        parts += ['<nav class="way-back" aria-label="', gettext("Way back"), f'"><a href="{v(way_back.href)}" rel="up">'
                  '<span aria-hidden="true">←</span> ', gettext("Back to %(label)s") % {"label": v(way_back.label)},
                  "</a>"]
        parts += [f' <a href="{v(link.href)}">{v(link.label)}</a>' for link in way_back.also]
        parts.append("</nav>")
    parts.append("\n  ")
    messages = context.get("messages")
    if messages:
        parts.append('<ul class="messages" role="status">')
        parts += [f'<li class="{v(m.tags)}">{v(m)}</li>' for m in messages]
        parts.append("</ul>")
    parts.append("\n  ")
    return mark_safe("".join(parts))  # noqa: S308 - every value went through _writer


def _header(context: Context, actor: Any) -> str:
    """Inside the header when someone acts: the navigation and who they are."""
    v = _writer(context)
    csrf = _csrf_input(context)
    parts = ["\n  "]
    if not context.get("nav_hidden"):
        nav = context.get("nav") or []
        parts += ['<button type="button" id="menu-toggle" class="menu-toggle" aria-expanded="false" '
                  'aria-controls="main-nav" hidden>', gettext("Menu")]
        parts += [f' <span class="badge warn">{v(item["count"])}</span>' for item in nav if item["count"]]
        parts += ['</button>\n  <nav id="main-nav" aria-label="', gettext("Main"), '">\n    ']
        for item in nav:
            mark = ' aria-current="page"' if item["current"] else ""
            parts.append(f'<a href="{v(item["href"])}"{mark}>{v(item["label"])}')
            if item["count"]:
                waiting = gettext("%(n)s waiting for you") % {"n": v(item["count"])}
                parts.append(f' <span class="badge warn" data-testid="nav-count" aria-label="{waiting}">'
                             f'{v(item["count"])}</span>')
            parts.append("</a>")
        parts.append("\n  </nav>")
    parts.append('\n  <div class="who">\n    ')
    organizations = context.get("organizations") or ()
    if len(organizations) > 1:
        parts += [f'\n    <form method="post" action="{v(href("accounts:switch_organization"))}">{csrf}\n'
                  '      <label class="skip" for="org-switch">', gettext("Organisation"), "</label>\n"
                  '      <select id="org-switch" name="organization" data-autosubmit>\n        ']
        parts += [f'<option value="{v(org.id)}"{" selected" if org.id == actor.organization.id else ""}>'
                  f"{v(org.name)}</option>" for org in organizations]
        parts += ['\n      </select>\n      <noscript><button class="link" type="submit">', gettext("Switch"),
                  "</button></noscript>\n    </form>\n    "]
    else:
        parts.append(f"<span>{v(actor.organization.name)}</span>")
    roles = ", ".join(v(name) for name in context.get("role_names") or ())
    parts.append(f"\n    <span>{v(actor.user.full_name)} · {roles}</span>\n    ")
    if actor.is_patient_only:
        current = get_language()
        languages = [get_language_info(code) for code, _name in settings.LANGUAGES]
        parts.append(
            f'<form method="post" action="{v(href("site:language"))}" class="language-switch">{csrf}'
            f'<input type="hidden" name="next" value="{v(context["request"].get_full_path())}">\n      '
        )
        parts += [f'<button class="link" type="submit" name="language" value="{v(info["code"])}" '
                  f'lang="{v(info["code"])}">{v(capfirst(info["name_local"]))}</button>'
                  for info in languages if info["code"] != current]
        parts.append("</form>")
    parts += [f'\n    <form id="sign-out-form" method="post" action="{v(href("accounts:logout"))}">{csrf}'
              '<button class="link" type="submit">', gettext("Sign out"), "</button></form>\n  </div>\n  "]
    return "".join(parts)


def _csrf_input(context: Context) -> str:
    """What {% csrf_token %} writes."""
    token = context.get("csrf_token")
    if not token or token == "NOTPROVIDED":  # noqa: S105 - Django's marker for no token
        return ""
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{render_value_in_context(token, context)}">'


@register.simple_tag(takes_context=True)
def layout_close(context: Context) -> SafeString:
    """After the content: the idle timeout's warning for a signed-in visitor."""
    if not _signed_in(context):
        return mark_safe("\n</main>\n\n</body>\n</html>\n")
    return mark_safe("".join([  # noqa: S308 - translations of literals, as {% translate %} writes them
        '\n</main>\n\n<dialog id="timeout-warning" class="timeout" aria-labelledby="timeout-title" '
        'aria-describedby="timeout-text" data-minute="', gettext("minute"), '" data-minutes="', gettext("minutes"),
        '" data-second="', gettext("second"), '" data-seconds="', gettext("seconds"), '">\n'
        '  <h2 id="timeout-title">', gettext("Are you still there?"), "</h2>\n"
        '  <p id="timeout-text">',
        gettext("To protect patients' privacy you will be signed out in <strong id=\"timeout-left\">2 minutes"
                "</strong> unless you choose to stay. Anything you have not saved will be lost."),
        '</p>\n  <div class="row"><button type="button" id="timeout-stay">', gettext("Stay signed in"),
        '</button><button type="button" class="secondary" id="timeout-leave">', gettext("Sign out now"),
        "</button></div>\n</dialog>\n\n</body>\n</html>\n",
    ]))
