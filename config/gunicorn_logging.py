"""gunicorn's logger for the Procfile's `web` process: no URL secret in its logs, JSON on demand.

`--logger-class config.gunicorn_logging.RedactingLogger` passes every access-log value (the
request line, path, query string, Referer and any other header or environ value a custom
`--access-logformat` names) through `audit.redaction.redact_secrets`, so a reset,
invitation or "this wasn't me" link is never written with its token. With JSON logs (see
config/log_format.py) both of gunicorn's logs are JSON lines like the site's own; an access line
then also carries its fields one by one, with the request id the site answered with.
"""

from gunicorn.glogging import Logger

from audit.redaction import redact_secrets
from config.log_format import JsonLogFormatter, RedactingFilter, log_format_from_environment


class RedactingLogger(Logger):
    """gunicorn's own logger, with URL secrets redacted and the site's log format."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self.json = log_format_from_environment() == "json"
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(RedactingFilter())
                if self.json:
                    handler.setFormatter(JsonLogFormatter())

    def atoms(self, resp, req, environ, request_time) -> dict:
        return {
            name: redact_secrets(value) if isinstance(value, str) else value
            for name, value in super().atoms(resp, req, environ, request_time).items()
        }

    def access(self, resp, req, environ, request_time) -> None:
        if not self.json:
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        self.access_log.info(
            self.cfg.access_log_format,
            self.atoms_wrapper_class(atoms),
            extra={
                "client": atoms["h"],
                "method": atoms["m"],
                "path": atoms["U"],
                "query": atoms["q"],
                "status": atoms["s"],
                "bytes": atoms["B"],
                "duration_ms": atoms["M"],
                "request_id": atoms.get("{x-request-id}o") or None,
            },
        )
