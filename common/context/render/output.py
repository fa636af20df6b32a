"""Markdown and JSON views of a `Document`, and the token budget that cuts it to size.

Budget: 4 characters a token, measured on the markdown.  Sections give way in
`CUT_ORDER` (lowest priority first): first their items are cut from the end (a
"... and K more <noun>" line says what went), then, if that is not enough, whole
sections are left out (a final line names them), and as a last resort the text is
truncated.  The result always fits.  The JSON view carries the same cuts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.context.render.document import CUT_ORDER, Document, Section, build, yaml_scalar

CHARS_PER_TOKEN = 4
MIN_TOKENS, MAX_TOKENS = 200, 200_000
_TRUNCATION_NOTE = "\n\n_... cut to fit max_tokens._\n"


def _cut_line(section: Section) -> str | None:
    omitted = section.omitted()
    return f"_... and {omitted} more {section.noun}_" if omitted else None


def section_markdown(section: Section) -> str:
    lines = [f"## {section.title}", ""]
    lines.extend(section.intro)
    if section.intro and section.items:
        lines.append("")
    for item in section.kept_items():
        if item.data is None and lines[-1] != "":
            lines.append("")  # a blank line before each group heading
        lines.append(item.text)
    cut = _cut_line(section)
    if cut:
        lines.append(cut)
    return "\n".join(lines).rstrip() + "\n"


def _front_matter_markdown(document: Document) -> str:
    body = "\n".join(f"{k}: {yaml_scalar(v)}" for k, v in document.front_matter.items())
    return f"---\n{body}\n---\n\n# {document.title}\n"


def _left_out_line(document: Document) -> str:
    if not document.left_out:
        return ""
    names = ", ".join(f"{s.title} ({count} items)" for s, count in document.left_out)
    return f"\n_Left out to fit max_tokens={document.max_tokens}: {names}._\n"


def to_markdown(document: Document) -> str:
    parts = [_front_matter_markdown(document)]
    parts.extend(section_markdown(s) for s in document.sections)
    text = "\n".join(parts) + _left_out_line(document)
    if document.truncated and document.max_tokens is not None:
        limit = document.max_tokens * CHARS_PER_TOKEN
        if len(text) > limit:
            text = text[: max(0, limit - len(_TRUNCATION_NOTE))] + _TRUNCATION_NOTE
    return text


def _length(document: Document) -> int:
    return len(to_markdown(document))


def fit(document: Document, max_tokens: int) -> Document:
    """Cut `document` in place until its markdown fits `max_tokens`; returns it."""
    document.max_tokens = max_tokens
    budget = max_tokens * CHARS_PER_TOKEN
    total = _length(document)
    by_key = {s.key: s for s in document.sections}
    for key in CUT_ORDER:
        if total <= budget:
            return document
        section = by_key.get(key)
        if section is not None and section.items:
            total = _shrink(section, total - budget, total)
    for key in CUT_ORDER:
        if total <= budget:
            return document
        section = by_key.get(key)
        if section is not None:
            content = sum(1 for i in section.items if i.data is not None)
            document.sections.remove(section)
            document.left_out.append((section, content))
            total = _length(document)
    if total > budget:
        document.truncated = True
    return document


def _shrink(section: Section, excess: int, total: int) -> int:
    """Keep the longest prefix of the section's items that saves `excess` characters."""
    before = len(section_markdown(section))
    # Walk back from the end: one pass over the item lengths (linear).
    saved, kept = 0, len(section.items)
    reserve = len(section.noun) + 24  # the "... and K more <noun>" line that appears
    while kept > 0 and saved < excess + reserve:
        kept -= 1
        saved += len(section.items[kept].text) + 1
    section.kept = kept
    return total - before + len(section_markdown(section))


def to_json(document: Document) -> dict[str, Any]:
    return {
        "front_matter": document.front_matter,
        "title": document.title,
        "sections": [
            {
                "key": s.key,
                "title": s.title,
                "intro": s.intro,
                "summary": s.summary,
                "items": [i.data for i in s.kept_items() if i.data is not None],
                "omitted": s.omitted(),
            }
            for s in document.sections
        ],
        "left_out": [
            {"key": s.key, "title": s.title, "items": count} for s, count in document.left_out
        ],
        "max_tokens": document.max_tokens,
        "truncated": document.truncated,
    }


def render_document(
    snapshot: Mapping[str, Any],
    since: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
) -> Document:
    document = build(snapshot, since)
    if max_tokens is not None:
        fit(document, max_tokens)
    return document


def render_markdown(
    snapshot: Mapping[str, Any],
    since: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
) -> str:
    """The rehydrate document as markdown: a pure function of the snapshot document(s)."""
    return to_markdown(render_document(snapshot, since, max_tokens))


def render_json(
    snapshot: Mapping[str, Any],
    since: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
) -> dict[str, Any]:
    """The same sections as structured data (the same cuts under a budget)."""
    return to_json(render_document(snapshot, since, max_tokens))
