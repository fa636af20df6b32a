"""The "Since last snapshot" section: what changed between an earlier snapshot of the
thread and this one (new commits, files whose status changed, markers added and
resolved)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from common.context.render import markup as m
from common.context.render.parts import Group, Item, Section, change_label, commit_item, marker_item


def _marker_key(marker: Mapping[str, Any]) -> tuple[str, str, str]:
    # Line numbers shift as code moves; path + kind + text identifies a marker.
    text = " ".join(str(marker.get("text") or "").split())
    return (str(marker.get("path")), str(marker.get("kind")), text)


def _differences(
    snapshot: Mapping[str, Any], previous: Mapping[str, Any]
) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """(new commits, changes whose status differs, markers added, markers resolved)."""
    seen = {c.get("sha") for c in previous.get("commits") or []}
    new_commits = [c for c in snapshot.get("commits") or [] if c.get("sha") not in seen]
    before = {str(c.get("path")): c.get("status") for c in previous.get("changes") or []}
    changed = [
        c
        for c in snapshot.get("changes") or []
        if before.get(str(c.get("path"))) != c.get("status")
    ]
    old_markers = {_marker_key(mk): mk for mk in previous.get("markers") or []}
    new_markers = {_marker_key(mk): mk for mk in snapshot.get("markers") or []}
    added = [mk for key, mk in new_markers.items() if key not in old_markers]
    resolved = [mk for key, mk in old_markers.items() if key not in new_markers]
    return new_commits, changed, added, resolved


def since_section(
    snapshot: Mapping[str, Any], previous: Mapping[str, Any], now: datetime | None
) -> Section:
    section = Section("since_last_snapshot", m.literal("Since last snapshot"))
    section.intro.append(
        m.fmt(
            "Compared with snapshot {} of {}.",
            m.code(previous.get("snapshot_id")),
            previous.get("created_at"),
        )
    )
    new_commits, changed, added, resolved = _differences(snapshot, previous)
    section.summary = {
        "previous_snapshot_id": previous.get("snapshot_id"),
        "new_commits": len(new_commits),
        "files_changed": len(changed),
        "markers_added": len(added),
        "markers_resolved": len(resolved),
    }
    parts: list[tuple[str, str, str, list[Item]]] = [
        ("new_commit", "New commits", "new commit", [
            commit_item(c, now, "new_commit") for c in new_commits
        ]),
        ("file", "Files changed since", "changed file", [
            Item(m.fmt("- {}", change_label(c)), {"group": "file", **dict(c)}) for c in changed
        ]),
        ("marker_added", "Markers added", "added marker", [
            marker_item(mk, "marker_added") for mk in added
        ]),
        ("marker_resolved", "Markers resolved", "resolved marker", [
            marker_item(mk, "marker_resolved") for mk in resolved
        ]),
    ]  # fmt: skip
    for key, heading, noun, items in parts:
        if items:
            title = m.literal(f"### {heading} ({len(items)})")
            section.groups.append(Group(title, items, key, noun))
    if not section.groups:
        section.intro.append(m.literal("Nothing changed."))
    return section
