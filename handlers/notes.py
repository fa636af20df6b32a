"""Function `notes`: POST|GET /notes, GET|DELETE /notes/{note_id}."""

from __future__ import annotations

from common.api import Response, Route, http_handler
from common.context import notes
from common.runtime.http import Request, empty_response, json_response, page


def post_note(request: Request) -> Response:
    note = request.json_model(notes.NoteIn)
    return json_response(201, notes.create_note(request.tenant, note))


def list_notes(request: Request) -> Response:
    query = request.query_model(notes.NotesQuery)
    items, next_cursor = notes.list_notes(
        request.tenant, query.thread_id, query.kind, query.limit, query.cursor
    )
    return json_response(200, page(items, next_cursor))


def get_note(request: Request) -> Response:
    item = notes.get_note(request.tenant, request.path_param("note_id"))
    return json_response(200, notes.public_note(item))


def delete_note(request: Request) -> Response:
    notes.delete_note(request.tenant, request.path_param("note_id"))
    return empty_response(204)


ROUTES: dict[str, Route] = {
    "POST /notes": Route(post_note, auth="creator"),
    "GET /notes": Route(list_notes),
    "GET /notes/{note_id}": Route(get_note),
    "DELETE /notes/{note_id}": Route(delete_note, auth="creator"),
}

handler = http_handler("notes", ROUTES)
