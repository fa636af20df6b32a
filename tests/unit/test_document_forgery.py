"""Issue #15 item 2: no request field can change the structure of the rehydrated document.

Hostile values go into EVERY string field of every document-bound model (the hydrate
body, found by walking `SnapshotIn` and its sub-models, and the frozen notes, from
`NoteIn`), so a field added to a model later is covered without touching this file.

- Markdown: the document rendered with hostile values must have exactly the block
  structure (markdown-it, CommonMark + GFM tables) of the same document rendered with
  every escaped value replaced by a neutral "v" — the renderer makes the same decisions
  in both, so any difference is a value that changed the structure.  The neutral
  rendering must not contain the hostile values' sentinel: a value that bypassed the
  escaping functions would show up there.
- Front matter: parses as YAML 1.2 (ruamel.yaml) to exactly the values put in, for
  any string, non-printable characters, surrogates and BOM included.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from pydantic import BaseModel
from ruamel.yaml import YAML

from common.context import notes, snapshots
from common.context.render import markup, render_document, render_markdown
from common.context.render.markup import Md
from common.context.render.output import front_matter_markdown

SENTINEL = "zqx"
# Every construct a value might try to open, and the characters that fold or escape.
FRAGMENTS = (
    "\n", "\r\n", "\r", "\n\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\t",
    "# ", "## ", "### x", "#", "---", "***", "___", "===", "- ", "* ", "+ ", "1. ", "2) ",
    "> ", "```", "~~~", "````js", "    indented", "<div>", "</div>", "<!--", "-->",
    "<script>", "<?php ", "<![CDATA[", "| a | b |", "|---|---|", "[x]: http://e.com",
    "[^1]: n", "\\", "`", "``", "*", "_", "[", "]", "(", ")", "!", "&amp;", "&#10;",
    "\x00", "\x1b[31m", "\x7f", "\ufeff", "\ufffe", "\u202e", "\ud800", "🚀", "数据",
    " ", "  ", "**b**", "<http://x>", "---\nkey: v\n---", "\n- [ ] forged task",
)  # fmt: skip


@st.composite
def hostile_text(draw: st.DrawFn) -> str:
    """Fragments and random text, the sentinel somewhere (often last, so that the
    value itself starts with a construct)."""
    parts = draw(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=10))
    parts.insert(draw(st.sampled_from([len(parts), 0, len(parts) // 2])), f" {SENTINEL} ")
    return "".join(parts)


PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


# --- hostile instances, generated from the models ---------------------------------------


def _value(annotation: Any, draw: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _value(args[0], draw)
    if origin in (typing.Union, types.UnionType):
        return _value(next(a for a in args if a is not type(None)), draw)
    if origin is typing.Literal:
        return draw(st.sampled_from(args))
    if origin is list:
        return [_value(args[0], draw) for _ in range(draw(st.integers(1, 2)))]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return hostile_instance(annotation, draw)
    return _scalar(annotation, draw)


def _scalar(annotation: Any, draw: Any) -> Any:
    if annotation is str:
        return draw(hostile_text())
    if annotation is int:
        return draw(st.integers(1, 10_000))
    if annotation is bool:
        return draw(st.booleans())
    raise AssertionError(f"no hostile value for {annotation!r}: teach this test the type")


def hostile_instance(model: type[BaseModel], draw: Any) -> dict[str, Any]:
    """Every field of `model` set, every string (however nested) hostile."""
    return {name: _value(field.annotation, draw) for name, field in model.model_fields.items()}


def string_paths(model: type[BaseModel], prefix: str = "") -> Iterable[str]:
    """The dotted paths of the model's string fields (what this test must cover)."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        for arg in (annotation, *typing.get_args(annotation)):
            inner = typing.get_args(arg)[0] if typing.get_origin(arg) is list else arg
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from string_paths(inner, f"{prefix}{name}.")
                break
        else:
            yield f"{prefix}{name}"


def hostile_snapshot(draw: Any) -> dict[str, Any]:
    """A stored snapshot document (`snapshots.build_document` shape), all strings hostile."""
    body = hostile_instance(snapshots.SnapshotIn, draw)
    frozen = []
    for _ in range(draw(st.integers(1, 4))):
        note = hostile_instance(notes.NoteIn, draw)
        note.update(note_id=draw(hostile_text()), created_at=draw(hostile_text()))
        note["kind"] = draw(st.sampled_from(notes.NOTE_KINDS))
        frozen.append(note)
    return {
        "schema_version": 1,
        "snapshot_id": draw(hostile_text()),
        **body,
        "notes": frozen,
        "created_at": draw(hostile_text()),
    }


def test_the_generator_covers_every_string_field_of_the_models() -> None:
    paths = set(string_paths(snapshots.SnapshotIn)) | set(string_paths(notes.NoteIn))
    # A sample of what must be there: if a model grows a field, it is covered too.
    assert {"thread.goal", "repo.branch", "commits.author", "markers.context"} <= paths
    assert {"changes.old_path", "tasks.title", "decisions", "text", "tags", "source.path"} <= (
        paths
    )


# --- the structure check -----------------------------------------------------------------


def _body(markdown: str) -> str:
    assert markdown.startswith("---\n")
    end = markdown.index("\n---\n", 4)  # values never hold a line break: the first is it
    return markdown[end + 5 :]


def skeleton(markdown: str) -> list[tuple[Any, ...]]:
    """Block tokens: type, tag, nesting, source lines (and markers, except fence lengths)."""
    return [
        (t.type, t.tag, t.level, tuple(t.map or ()), "" if t.type == "fence" else t.markup, t.info)
        for t in PARSER.parse(_body(markdown))
        if t.block
    ]


def _neutral_fenced(lines: Iterable[str], indent: str = "") -> Md:
    body = [f"{indent}v" for _ in lines]
    return Md("\n".join([f"{indent}```", *body, f"{indent}```"]))


def neutral_markdown(
    monkeypatch: pytest.MonkeyPatch, snapshot: dict[str, Any], since: dict[str, Any]
) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(markup, "inline", lambda value: Md("v"))
        patch.setattr(markup, "code", lambda value: Md("`v`"))
        patch.setattr(markup, "fenced", _neutral_fenced)
        return render_markdown(snapshot, since=since)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hostile_values_never_change_the_block_structure(data: st.DataObject) -> None:
    monkeypatch = pytest.MonkeyPatch()
    snapshot = hostile_snapshot(data.draw)
    previous = hostile_snapshot(data.draw)
    hostile = render_markdown(snapshot, since=previous)
    neutral = neutral_markdown(monkeypatch, snapshot, previous)
    assert SENTINEL not in _body(neutral).lower(), "a value bypassed markup"
    assert skeleton(hostile) == skeleton(neutral)
    kinds = {t.type for t in PARSER.parse(_body(hostile))}
    assert not kinds & {"html_block", "hr", "table_open", "code_block"}
    hostile.encode("utf-8")  # lone surrogates never reach the wire


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hostile_values_keep_the_front_matter_exact(data: st.DataObject) -> None:
    snapshot = hostile_snapshot(data.draw)
    markdown = render_markdown(snapshot)
    front = YAML(typ="safe", pure=True).load(markdown[4 : markdown.index("\n---\n", 4)])
    assert front == render_document(snapshot).front_matter
    assert front["goal"] == snapshot["thread"]["goal"]
    assert front["constraints"] == snapshot["thread"]["constraints"]


# Every code point class YAML 1.2 or a reader could trip on, surrogates included.
any_text = st.text(st.characters(exclude_categories=()), max_size=40) | st.lists(
    st.sampled_from(["\x7f", "\x85", "\ufffe", "\uffff", "\u2028", "\u2029", "\ufeff", "\ud800",
                     "\udfff", "\x00", "\x1b", "\x9f", "\t", "\r\n", '"', "\\", "'", ": ", "#",
                     "---", "...", "&a", "*a", "!t", "%", "@", "`", "|", ">", "null", "~",
                     "0x1F", "1e3", "yes", "\U0010ffff", "\U0001fffe", "\u200b", "\u202e"]),
    max_size=12,
).map("".join)  # fmt: skip


FRONT_MATTER_STRINGS = ("thread_id", "snapshot_id", "created_at", "goal", "persona", "focus")
FRONT_MATTER_STRINGS += ("output", "constraints")


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries(dict.fromkeys(FRONT_MATTER_STRINGS, any_text)))
def test_front_matter_round_trips_any_string_as_yaml_1_2(values: dict[str, str]) -> None:
    thread = {"id": values["thread_id"], "persona": values["persona"]}
    thread.update({k: values[k] for k in ("goal", "focus", "output", "constraints")})
    snapshot = {k: values[k] for k in ("snapshot_id", "created_at")} | {"thread": thread}
    document = render_document(snapshot)
    text = front_matter_markdown(document)
    assert text.count("\n") == len(document.front_matter) + 2  # one line a key
    parsed = YAML(typ="safe", pure=True).load(text[4:-4])
    assert parsed == document.front_matter
    for key in ("thread_id", "snapshot_id", "created_at"):
        assert parsed[key] == values[key]
    for key in ("goal", "focus", "output", "constraints"):
        assert parsed[key] == values[key]  # exactly, however hostile
    assert all(c.isprintable() or c == " " for c in text.replace("\n", ""))


def test_yaml_parser_is_1_2() -> None:
    # YAML 1.1 reads `yes` as true and NEL as a line break; 1.2 and our output do neither.
    assert YAML(typ="safe", pure=True).load('a: yes\nb: "x\\Ny"') == {"a": "yes", "b": "x\x85y"}


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("# heading", "\\# heading"),
        ("- item", "\\- item"),
        ("+ item", "\\+ item"),
        ("12. item", "12\\. item"),
        ("3) item", "3\\) item"),
        ("> quote", "\\> quote"),
        ("```js", "\\`\\`\\`js"),
        ("~~~", "\\~\\~\\~"),
        ("<div>", "\\<div>"),
        ("| a | b |", "\\| a \\| b \\|"),
        ("[ref]: http://x", "\\[ref]: http://x"),
        ("===", "\\==="),
        ("a\n# b\r\nc\u2028d\x85e", "a # b c d e"),
        ("snake_case _emphasis_", "snake_case \\_emphasis\\_"),
        ("ends with #", "ends with \\#"),
        ("back\\slash", "back\\\\slash"),
        ("  \t\n", ""),
    ],
)
def test_inline_escaping_rule(value: str, escaped: str) -> None:
    assert markup.escape_inline(value) == escaped


@pytest.mark.parametrize("value", ["a`b", "``x``", "`", " padded ", "x  y", "``` fence"])
def test_code_spans_give_the_value_back(value: str) -> None:
    span = markup.code(value)
    html = PARSER.render(f"- {span}\n")
    assert html.count("<code>") == 1
    inner = html.split("<code>")[1].split("</code>")[0]
    assert inner.replace("&lt;", "<").replace("&amp;", "&") == value


def test_fenced_block_cannot_be_closed_by_its_content() -> None:
    block = markup.fenced(["````", "```", "~~~", "# not a heading", "</pre>"], "  ")
    tokens = PARSER.parse(f"- item\n{block}\n- next\n")
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1
    assert fences[0].content.splitlines() == ["````", "```", "~~~", "# not a heading", "</pre>"]
