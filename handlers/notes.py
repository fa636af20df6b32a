"""Function `notes`: POST|GET /notes, GET|DELETE /notes/{note_id}."""

from __future__ import annotations

from common.api import Response, RouteTable, http_handler
from common.context import notes
from common.runtime.http import Request, empty_response, json_response, page
from common.runtime.routedoc import Page

routes = RouteTable()


@routes.post("/notes", auth="creator", ok={201: notes.NoteCreatedView}, errors=(409,))
def post_note(request: Request, body: notes.NoteIn) -> Response:
    """Add a note to a thread

    409 while the thread is being deleted.
    """
    return json_response(201, notes.create_note(request.tenant, body))


@routes.get("/notes", ok={200: Page(notes.NoteView)})
def list_notes(request: Request, query: notes.NotesQuery) -> Response:
    """A thread's notes, oldest first"""
    items, next_cursor = notes.list_notes(
        request.tenant, query.thread_id, query.kind, query.limit, query.cursor
    )
    return json_response(200, page(items, next_cursor))


@routes.get("/notes/{note_id}", ok={200: notes.NoteView})
def get_note(request: Request) -> Response:
    """One note"""
    item = notes.get_note(request.tenant, request.path_param("note_id"))
    return json_response(200, notes.public_note(item))


@routes.delete("/notes/{note_id}", auth="creator", ok={204: None})
def delete_note(request: Request) -> Response:
    """Delete a note"""
    notes.delete_note(request.tenant, request.path_param("note_id"))
    return empty_response(204)


ROUTES = routes.table
handler = http_handler("notes", ROUTES)
