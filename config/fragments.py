"""`{% reuse %}…{% endreuse %}`: a template fragment rendered once per process and then reused.

The sign-in page is the first page of every sign-in, and most of it (its words, links and
static addresses, the footer's language menu) is the same for everyone who reads it in one
language: rendering those nodes again was about a fifth of a whole sign-in's CPU
(docs/performance.md). A fragment is kept by where it is in its template and by the values
named after the tag, so it may hold only what those values determine:

    {% reuse LANGUAGE_CODE SITE_URL %}…{% endreuse %}

Never wrap anything of the reader's (the CSRF token, a form, the person, a `next`). What is kept
ends with the process (a deploy) and is forgotten whenever a setting changes (tests).
"""

from django import template
from django.core.signals import setting_changed

register = template.Library()

# Keys are a template position and a few values such as the language, so this stays small; the
# cap only guards against a vary value that turns out to be the reader's.
MAX_FRAGMENTS = 500
_rendered: dict[tuple, str] = {}


class ReuseNode(template.Node):
    def __init__(self, nodelist: template.NodeList, place: tuple, vary_on: list) -> None:
        self.nodelist = nodelist
        self.place = place
        self.vary_on = vary_on

    def render(self, context: template.Context) -> str:
        key = (*self.place, *(value.resolve(context) for value in self.vary_on))
        rendered = _rendered.get(key)
        if rendered is None:
            rendered = self.nodelist.render(context)
            if len(_rendered) >= MAX_FRAGMENTS:
                _rendered.clear()
            _rendered[key] = rendered
        return rendered


@register.tag
def reuse(parser: template.base.Parser, token: template.base.Token) -> ReuseNode:
    nodelist = parser.parse(("endreuse",))
    parser.delete_first_token()
    place = (parser.origin.name if parser.origin else "", token.lineno)
    vary_on = [parser.compile_filter(bit) for bit in token.split_contents()[1:]]
    return ReuseNode(nodelist, place, vary_on)


def fragments_forget(**kwargs) -> None:
    _rendered.clear()


setting_changed.connect(fragments_forget, dispatch_uid="config.fragments.forget")
