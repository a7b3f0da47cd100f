"""The field map of an ``html`` source: its YAML keys (validated at load) and the
compiled XPath/CSS expressions that read values out of a page.

An expression is a mapping with one of ``xpath:`` (XPath 1.0, relative to the item)
or ``css:`` (a CSS selector, via cssselect), and optionally ``attr:`` (take this
attribute instead of the text) and ``regex:`` (keep the first group, or the whole
match, of the value). Pure: no network.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any
from typing import Literal

import cssselect
from lxml import etree
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator
from pydantic import model_validator

FieldName = Literal[
    "title",
    "link",
    "guid",
    "date",
    "updated",
    "valid_through",
    "summary",
    "body",
    "kind",
    "town",
    "country",
    "organisation",
    "category",
    "language",
    "author",
]
_SPACE = re.compile(r"\s+")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expr(_Strict):
    """One ``{xpath: ...}`` or ``{css: ...}`` expression."""

    xpath: str | None = None
    css: str | None = None
    attr: str | None = None
    regex: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(
                "expected an expression such as {css: 'td.title a'} or "
                "{xpath: './td[1]//a'}"
            )
        return value

    @model_validator(mode="after")
    def _one_syntax(self) -> Expr:
        if (self.xpath is None) == (self.css is None):
            raise ValueError("give exactly one of 'xpath' or 'css'")
        to_xpath(self)  # a syntax error is refused at load, with its line
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as e:
                raise ValueError(f"bad regex {self.regex!r}: {e}") from None
        return self

    @property
    def label(self) -> str:
        """How the expression is written, for error messages."""
        return f"xpath: {self.xpath}" if self.xpath is not None else f"css: {self.css}"


def to_xpath(expr: Expr) -> etree.XPath:
    """The compiled XPath of ``expr``; a new object per call (lxml's XPath objects
    must not be shared between pool threads)."""
    try:
        if expr.css is not None:
            path = cssselect.HTMLTranslator().css_to_xpath(expr.css)
        else:
            path = str(expr.xpath)
        return etree.XPath(path)
    except cssselect.SelectorError as e:
        raise ValueError(f"bad CSS selector {expr.css!r}: {e}") from None
    except etree.XPathSyntaxError as e:
        raise ValueError(f"bad XPath {expr.xpath!r}: {e}") from None


class HtmlOptions(_Strict):
    """The ``html`` connector's own keys of a source."""

    items: Expr
    fields: dict[FieldName, Expr]
    detail: dict[FieldName, Expr] = Field(default_factory=dict)
    next: Expr | None = None
    date_format: str | None = None

    @field_validator("fields")
    @classmethod
    def _title(cls, value: dict[str, Expr]) -> dict[str, Expr]:
        if "title" not in value:
            raise ValueError("map 'title' (items without one are skipped)")
        return value

    @classmethod
    def of(cls, options: Any) -> HtmlOptions:
        """The html keys among a source's stored options."""
        return cls.model_validate(
            {k: options[k] for k in cls.model_fields if k in options}
        )


class Compiled:
    """An expression ready to evaluate against an lxml element."""

    def __init__(self, expr: Expr) -> None:
        self.label = expr.label
        self.attr = expr.attr
        self.regex = re.compile(expr.regex) if expr.regex is not None else None
        self._xpath = to_xpath(expr)

    def find(self, context: Any) -> list[Any]:
        """The nodes or strings the expression selects (empty: it matched nothing)."""
        try:
            found = self._xpath(context)
        except etree.XPathEvalError:
            return []
        if isinstance(found, list):
            return found
        if isinstance(found, bool) or found is None:
            return [] if not found else [str(found)]
        if isinstance(found, float):
            return [str(int(found)) if found.is_integer() else str(found)]
        return [found] if str(found).strip() else []

    def texts(self, found: list[Any], *, link: bool = False) -> list[str]:
        """Whitespace-normalised values of ``found`` (entities are already decoded).

        An element gives its ``attr`` attribute, else its ``href`` when ``link``,
        else its text.
        """
        values = []
        for node in found:
            if isinstance(node, etree._Element):
                attr = self.attr or ("href" if link and node.get("href") else None)
                raw = node.get(attr, "") if attr else node.text_content()
            else:
                raw = str(node)
            value = self._pick(_SPACE.sub(" ", raw).strip())
            if value:
                values.append(value)
        return values

    def markup(self, found: list[Any]) -> str:
        """The inner HTML of the selected elements (text values escaped)."""
        parts = []
        for node in found:
            if isinstance(node, etree._Element) and not self.attr:
                inner = html.escape(node.text or "", quote=False) + "".join(
                    etree.tostring(child, encoding="unicode", method="html")
                    for child in node
                )
                parts.append(inner.strip())
            else:
                parts.extend(html.escape(t, quote=False) for t in self.texts([node]))
        return "\n".join(p for p in parts if p)

    def _pick(self, value: str) -> str:
        if self.regex is None or not value:
            return value
        match = self.regex.search(value)
        if match is None:
            return ""
        return (match.group(1) if self.regex.groups else match.group(0)).strip()


def compile_map(fields: Mapping[Any, Expr]) -> dict[str, Compiled]:
    return {name: Compiled(expr) for name, expr in fields.items()}
