"""No personal link, whole or in part, in Django's request logs, runserver's
lines, gunicorn's access and error logs, or a logged traceback."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import Client

from notifications.acknowledgements.logfilters import (
    GunicornLogger,
    MaskTokens,
    mask,
    mask_path,
)
from tests.ack_helpers import launched, link

TOKEN = "6QItI5M4vlX_svS-yNuBdhu2BZ0Ca_-bsQ1xVn3kq8E"  # the shape of a real one


def _leaks(text: str, token: str = TOKEN) -> list[str]:
    """Every run of 8 characters of the token found in the text."""
    return [token[i : i + 8] for i in range(len(token) - 7) if token[i : i + 8] in text]


# What reaches a log: Django's decoded path, and the raw forms of the
# request line (percent-encoding kept).
PATHS = {
    "encoded slash, decoded": f"/a/{TOKEN[:10]}/{TOKEN[10:]}/",
    "encoded slash, raw": f"/a/{TOKEN[:10]}%2F{TOKEN[10:]}/",
    "lower-case encoded slash": f"/a/{TOKEN[:10]}%2f{TOKEN[10:]}/",
    "extra segment": f"/a/{TOKEN}/x/",
    "empty first segment": f"/a//{TOKEN}/",
    "query string": f"/a/{TOKEN}/?lang=en&t={TOKEN}",
    "space in the decoded path": f"/a/{TOKEN[:10]} {TOKEN[10:]}/",
    "quote in the decoded path": f"/a/{TOKEN[:10]}\"{TOKEN[10:]}'/",
    "newline, escaped by Django": f"/a/{TOKEN[:10]}\\n{TOKEN[10:]}/",
    "encoded /a/": f"/a%2F{TOKEN}/",
    "encoded a": f"/%61/{TOKEN}/",
    "encoded twice": f"/a%252F{TOKEN}/",
    "script prefix": f"/notify/a/{TOKEN}/x/",
}


@pytest.mark.parametrize("path", PATHS.values(), ids=list(PATHS))
def test_a_path_is_masked_from_a_to_its_end(path):
    assert _leaks(mask_path(path)) == []
    assert mask_path(path).endswith("/a/[token]")


@pytest.mark.parametrize(
    "path",
    [p for name, p in PATHS.items() if "decoded path" not in name],
    ids=[name for name in PATHS if "decoded path" not in name],
)
def test_a_path_in_a_line_is_masked_up_to_the_next_space(path):
    line = f'"GET {path} HTTP/1.1" 404 691 "https://notify.example.com{path}"'
    masked = mask(line)
    assert _leaks(masked) == []
    assert masked == (
        '"GET /a/[token] HTTP/1.1" 404 691 "https://notify.example.com/a/[token]'
        if "/notify/" not in path
        else '"GET /notify/a/[token] HTTP/1.1" 404 691 '
        '"https://notify.example.com/notify/a/[token]'
    )


def test_other_paths_are_left_alone():
    for text in (
        "/admin/",
        "/verify/?reference=ABC",
        "GET /static/ack/a.css",
        "/aa/b/",
    ):
        assert mask(text) == text
        assert mask_path(text) == text


@pytest.fixture
def _django_server_logs(caplog):
    # runserver's logger does not propagate to the root (settings.LOGGING).
    server = logging.getLogger("django.server")
    server.addHandler(caplog.handler)
    yield
    server.removeHandler(caplog.handler)


@pytest.mark.django_db
def test_djangos_request_logs_hold_no_part_of_a_mangled_link(caplog):
    cache.clear()
    _campaign, [recipient] = launched()
    token = link(recipient).split("/")[2]
    client = Client()
    with caplog.at_level(logging.INFO):
        assert client.get(f"/a/{token[:10]}%2F{token[10:]}/").status_code == 404
        assert client.get(f"/a/{token}/x/").status_code == 404
        assert client.get(f"/a/{token}/{token}/?lang={token}").status_code == 404
        assert client.get(f"/a//{token}/").status_code == 404
        assert client.get(f"/a/{token[:10]}%20{token[10:]}/").status_code == 404
        assert client.post(f"/a/{token}/?lang=fr", {}).status_code == 400
    cache.clear()
    assert caplog.text.count("Not Found: /a/[token]\n") == 5
    assert "Bad Request: /a/[token]\n" in caplog.text
    assert _leaks(caplog.text, token) == []


@pytest.mark.usefixtures("_django_server_logs")
def test_runservers_request_lines_hold_no_part_of_a_link(caplog):
    server = logging.getLogger("django.server")
    with caplog.at_level(logging.INFO):
        for name, path in PATHS.items():
            if "decoded path" not in name:  # a raw request line has no space
                server.info('"%s" %s %s', f"GET {path} HTTP/1.1", "404", "691")
    assert '"GET /a/[token] HTTP/1.1" 404 691' in caplog.text
    assert _leaks(caplog.text) == []


def test_a_traceback_quoting_a_link_is_masked(caplog):
    path = f"/a/{TOKEN[:10]}/{TOKEN[10:]}/"
    try:
        raise ValueError(f"cannot serve {path} or {path[:-1]}?lang=fr")
    except ValueError:
        logging.getLogger("django.request").exception("Internal Server Error: %s", path)
    assert "Internal Server Error: /a/[token]" in caplog.text
    assert "ValueError: cannot serve /a/[token] or /a/[token]" in caplog.text
    assert _leaks(caplog.text) == []


def test_the_console_handler_masks_every_logger():
    """Any logger reaching the root's console handler, not only Django's."""
    [console] = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, MaskTokens) for f in h.filters)
    ]
    record = logging.getLogger("notifications.example").makeRecord(
        "notifications.example",
        logging.WARNING,
        __file__,
        1,
        "visited %s then %s",
        (f"/a/{TOKEN}/x/{TOKEN}", f"https://h/a/{TOKEN[:9]}%2F{TOKEN[9:]}/"),
        None,
    )
    assert console.filter(record)
    text = console.format(record)
    assert text.endswith("visited /a/[token] then https://h/a/[token]")
    assert _leaks(text) == []


@pytest.fixture
def gunicorn_logs():
    """A GunicornLogger as the Procfile starts it (access log on), its
    access and error lines captured."""
    from gunicorn.config import Config

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = GunicornLogger(cfg)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger.access_log.addHandler(handler)
    logger.error_log.addHandler(handler)
    yield logger, out
    for log in (logger.access_log, logger.error_log):
        for h in list(log.handlers):
            log.removeHandler(h)
        for f in list(log.filters):
            log.removeFilter(f)


def _request(raw_uri: str, path_info: str, query: str, referer: str):
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": raw_uri,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.1",
        "HTTP_REFERER": referer,
        "HTTP_USER_AGENT": "test",
    }
    req = SimpleNamespace(
        headers=[("REFERER", referer), ("USER-AGENT", "test")],
        method="GET",
        uri=raw_uri,
    )
    resp = SimpleNamespace(
        status="404 Not Found", headers=[("Content-Length", "691")], sent=691
    )
    return resp, req, environ


@pytest.mark.parametrize(
    "raw, decoded",
    [
        (f"/a/{TOKEN[:10]}%2F{TOKEN[10:]}/", f"/a/{TOKEN[:10]}/{TOKEN[10:]}/"),
        (f"/a/{TOKEN}/x/", f"/a/{TOKEN}/x/"),
        (f"/a/{TOKEN[:10]}%20{TOKEN[10:]}/", f"/a/{TOKEN[:10]} {TOKEN[10:]}/"),
        (f"/a%2F{TOKEN}/", f"/a/{TOKEN}/"),
        (f"/%61/{TOKEN}/", f"/a/{TOKEN}/"),
    ],
    ids=["encoded slash", "extra segment", "encoded space", "encoded /a/", "encoded a"],
)
def test_gunicorns_access_log_holds_no_part_of_a_link(gunicorn_logs, raw, decoded):
    logger, out = gunicorn_logs
    query = f"lang=en&next=/a/{TOKEN}/"
    referer = f"https://notify.example.com/a/{TOKEN}/?lang=fr"
    resp, req, environ = _request(f"{raw}?{query}", decoded, query, referer)
    # Every atom, the default format's and those one may add.
    logger.cfg.set(
        "access_log_format",
        '%(h)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(U)s %(q)s '
        "%({referer}i)s %({raw_uri}e)s %({path_info}e)s %({query_string}e)s",
    )
    logger.access(resp, req, environ, timedelta(milliseconds=3))
    line = out.getvalue()
    assert line.startswith('10.0.0.1 "GET /a/[token] HTTP/1.1" 404 691 ')
    assert line.count("/a/[token]") == 8
    assert _leaks(line) == []


def test_gunicorns_error_log_holds_no_part_of_a_link(gunicorn_logs):
    logger, out = gunicorn_logs
    path = f"/a/{TOKEN[:10]}%2F{TOKEN[10:]}/x/"
    try:
        raise RuntimeError(f"broken pipe while sending {path}")
    except RuntimeError:
        # what gunicorn's worker logs when the application fails
        logger.exception("Error handling request %s %s", "GET", path)
    logger.warning(
        f"Invalid request from ip=10.0.0.1: Invalid HTTP Version: 'GET {path} HTTP/9'"
    )
    text = out.getvalue()
    assert "Error handling request GET /a/[token]\n" in text
    assert "RuntimeError: broken pipe while sending /a/[token]" in text
    assert "'GET /a/[token] HTTP/9'" in text
    assert _leaks(text) == []


def test_gunicorns_error_log_filter_is_added_once_per_reload(gunicorn_logs):
    logger, _out = gunicorn_logs
    logger.setup(logger.cfg)
    logger.setup(logger.cfg)
    masks = [f for f in logger.error_log.filters if isinstance(f, MaskTokens)]
    assert len(masks) == 1
