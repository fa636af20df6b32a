from tests.conftest import ApiClient


def test_status_is_public_and_reports_version(api: ApiClient) -> None:
    result = api.get("/status")
    assert result.status == 200
    assert result.json == {"status": "ok", "version": "0.1.0"}
    assert result.headers["X-Request-ID"]


def test_unknown_route_is_404_envelope(api: ApiClient) -> None:
    result = api.get("/nowhere", headers={"X-Request-ID": "trace-1"})
    assert result.status == 404
    assert result.json == {
        "error": {
            "code": "not_found",
            "message": "No such route.",
            "details": [],
            "request_id": "trace-1",
        }
    }
    assert result.headers["X-Request-ID"] == "trace-1"
