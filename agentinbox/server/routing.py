"""Finding a request's route by its path segments instead of trying every route in turn.

The API has over a hundred routes; trying each one's pattern costs more per request than the framework's
whole floor. ``RouteIndex`` is one route holding all of them in a tree of path segments (literal segments
first, then ``{parameters}``), so a request is matched against the two or three routes of its shape only,
each by its own ``matches`` (which still checks the pattern, the method and converts the parameters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

__all__ = ["RouteIndex"]


@dataclass
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    parameter: _Node | None = None
    routes: list[BaseRoute] = field(default_factory=list)


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


class RouteIndex(BaseRoute):
    """Routes with a ``path`` (HTTP and WebSocket), looked up by segment; the first full match wins, in the
    order the routes were given, and a path that matches only with another method gives the framework its
    405 as usual."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = list(routes)
        self._root = _Node()
        for route in self.routes:
            node = self._root
            for segment in _segments(getattr(route, "path", "")):
                if segment.startswith("{") and segment.endswith("}"):
                    node.parameter = node.parameter or _Node()
                    node = node.parameter
                else:
                    node = node.literal.setdefault(segment, _Node())
            node.routes.append(route)

    def _candidates(self, path: str) -> list[BaseRoute]:
        found: list[BaseRoute] = []

        def walk(node: _Node, rest: list[str]) -> None:
            if not rest:
                found.extend(node.routes)
                return
            head, tail = rest[0], rest[1:]
            literal = node.literal.get(head)
            if literal is not None:
                walk(literal, tail)
            if node.parameter is not None and head:
                walk(node.parameter, tail)

        walk(self._root, _segments(path))
        return found

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        partial: tuple[Match, Scope] | None = None
        for route in self._candidates(scope["path"]):
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                return match, {**child_scope, "agentinbox.route": route}
            if match == Match.PARTIAL and partial is None:
                partial = (match, {**child_scope, "agentinbox.route": route})
        return partial or (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["agentinbox.route"].handle(scope, receive, send)
