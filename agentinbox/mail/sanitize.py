"""HTML made safe to render (nh3, the Rust ammonia sanitizer): scripts, event handlers, forms, frames and
``javascript:`` links go; formatting, tables, links and inline images (``cid:``) stay.

Pure function, no I/O; never raises.
"""

from __future__ import annotations

import html as html_lib

import nh3

__all__ = ["sanitize_html"]

_TAGS = nh3.ALLOWED_TAGS | {"font", "center", "span", "div", "u", "s", "big", "small"}
_GENERIC = {"style", "title", "dir", "lang", "align", "valign", "width", "height", "bgcolor", "color"}
_ATTRIBUTES: dict[str, set[str]] = {
    "*": _GENERIC,
    "a": {"href", "name"},
    "img": {"src", "alt", "border", "hspace", "vspace"},
    "font": {"face", "size", "color"},
    "table": {"border", "cellpadding", "cellspacing", "bgcolor", "width", "align"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap"},
    "blockquote": {"cite", "type"},
    "ol": {"start", "type"},
    "li": {"value"},
}
_SCHEMES = {"http", "https", "mailto", "cid", "tel"}
# CSS properties that format text; positioning ("position: fixed" overlays) and behaviours are dropped.
_STYLE_PROPERTIES = {
    "color", "background-color", "background", "font", "font-family", "font-size", "font-style",
    "font-weight", "text-align", "text-decoration", "text-indent", "line-height", "letter-spacing",
    "margin", "margin-top", "margin-bottom", "margin-left", "margin-right", "padding", "padding-top",
    "padding-bottom", "padding-left", "padding-right", "border", "border-top", "border-bottom",
    "border-left", "border-right", "border-color", "border-width", "border-style", "border-collapse",
    "width", "height", "max-width", "min-width", "vertical-align", "white-space", "list-style-type",
    "direction", "display",
}  # fmt: skip


_MAX_DEPTH = 300  # nh3's time grows with the square of the nesting depth; deeper documents become text
_DEPTH_CHECK = 1000  # tags: below this many, no document nests deep enough to matter


def sanitize_html(html: str) -> str:
    """``html`` with everything unsafe to render removed (an empty string if nothing survives).

    A pathologically deep document is rendered as its visible text instead (escaped, lines kept).
    """
    if html.count("<") > _DEPTH_CHECK:
        from .quote_html import max_depth, visible_text

        if max_depth(html) > _MAX_DEPTH:
            text = html_lib.escape(visible_text(html))
            return f'<div style="white-space: pre-wrap">{text}</div>'
    try:
        return nh3.clean(
            html,
            tags=_TAGS,
            attributes=_ATTRIBUTES,
            url_schemes=_SCHEMES,
            filter_style_properties=_STYLE_PROPERTIES,
            link_rel="noopener noreferrer",
            strip_comments=True,
        )
    except Exception:  # nh3 raises only on bad arguments, never on markup; keep nothing rather than risk it
        return ""
