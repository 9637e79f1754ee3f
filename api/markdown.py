"""Founders' Markdown (story, use of proceeds, risks) as HTML that is safe to insert.

Two independent guards: markdown-it with raw HTML disabled (tags in the source come
out as text), then the nh3 (ammonia) sanitiser with an allow-list of tags, attributes
and URL schemes, which also makes every link `rel="noopener noreferrer nofollow ugc"`.
Headings are shifted so that the story's top level is an <h3>: the page's own
<h1> (the title) and <h2> (its sections) stay the outline.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

TAGS = frozenset({
    "p", "br", "hr", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
})
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
TOP_HEADING = 3

_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


@lru_cache(maxsize=256)
def render_markdown(source: str) -> str:
    if not source.strip():
        return ""
    tokens = _markdown.parse(source)
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    shift = TOP_HEADING - min(levels) if levels else 0
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + shift)}"
    html = _markdown.renderer.render(tokens, _markdown.options, {})
    return nh3.clean(
        html, tags=set(TAGS), attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES), link_rel="noopener noreferrer nofollow ugc",
        filter_style_properties={"text-align"},
    )
