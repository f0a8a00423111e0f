"""How every process writes its log lines: JSON for machines, or plain lines for a person.

`LOG_FORMAT=json` (the default unless `DEBUG`) writes one JSON object a line with `time` (UTC,
ISO 8601, milliseconds), `level`, `logger`, `message`, and, inside a request, `request_id`,
`tenant_id` and `user_id` (config/request_context.py); whatever a call passes in `extra` is
added as fields of its own. `LOG_FORMAT=plain` writes the same facts as one readable line.
Either way, `RedactingFilter` has taken URL secrets out of the message first
(audit/redaction.py). The inventory of loggers and what each may say: docs/logging.md.

No Django import: gunicorn's logger class (config/gunicorn_logging.py) loads this before
Django starts.
"""

import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from audit.redaction import redact_secrets

LOG_FORMATS = ("json", "plain")
TRUE_WORDS = {"1", "true", "yes", "on", "y"}
# Record attributes that are objects, not facts: Django's request loggers attach the request
# and the server's socket; they would be written as their repr.
SKIPPED_ATTRIBUTES = (*RESERVED_ATTRS, "request", "server_time")
CONTEXT_FIELDS = ("request_id", "tenant_id", "user_id")
# The request being answered, set by config.request_context.RequestContextMiddleware: a plain
# dict of CONTEXT_FIELDS, so reading it from a log call never touches the database.
request_context: ContextVar[dict | None] = ContextVar("request_context", default=None)


def log_format_from_environment(environ: os._Environ | dict | None = None) -> str:
    """`LOG_FORMAT`, defaulting to plain lines under `DEBUG` and JSON otherwise."""
    environ = os.environ if environ is None else environ
    debug = environ.get("DEBUG", "").strip().lower() in TRUE_WORDS
    chosen = environ.get("LOG_FORMAT", "").strip().lower() or ("plain" if debug else "json")
    if chosen not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {chosen!r}.")
    return chosen


def utc_iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class RedactingFilter(logging.Filter):
    """Puts the message together once, with URL secrets redacted, on a handler's way out."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad log call; the handler reports it as usual
            return True
        redacted = redact_secrets(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, ()
        return True


class RequestContextFilter(logging.Filter):
    """Adds the request id, tenant id and user id of the request being answered, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        for field, value in (request_context.get() or {}).items():
            if getattr(record, field, None) is None:
                setattr(record, field, value)
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message, the request context, extras."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("reserved_attrs", SKIPPED_ATTRIBUTES)
        super().__init__("{message}", *args, style="{", **kwargs)

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        log_data["time"] = utc_iso(record.created)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        super().add_fields(log_data, record, message_dict)
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                log_data[field] = value


class PlainLogFormatter(logging.Formatter):
    """`2026-03-02T09:00:10.000Z INFO accounts.services [req 1f…] message`, for a person."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        context = f" [req {request_id}]" if request_id else ""
        line = f"{utc_iso(record.created)} {record.levelname} {record.name}{context} "
        line += record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonLogFormatter() if log_format == "json" else PlainLogFormatter()
