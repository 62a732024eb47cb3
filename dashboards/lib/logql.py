"""LogQL for the service's JSON logs in Loki.

Alloy sets two stream labels, `service` and `level`; every other field is read from
the JSON line with `| json`.
"""

from __future__ import annotations

from ai_assist.telemetry.logging import SERVICE_NAME

STREAM_LABELS = ("service", "level")
# The fields of every service log line (telemetry/logging.py and the request context).
LOG_FIELDS = ("timestamp", "level", "event", "service", "environment", "version",
              "request_id", "trace_id", "span_id", "company_id", "user_id", "error_type",
              "severity", "stage", "duration_s")

SERVICE_STREAM = f'{{service="{SERVICE_NAME}"}}'


# A line that is not JSON (a library's stray print) gets the label __error__ from `| json`,
# and Loki fails a whole metric query over a range holding one ("JSONParserErr"): drop such
# lines right after parsing, before any filter or aggregation.
PARSED = ("json", '__error__=""')


def lines(*filters: str) -> str:
    """Service log lines that parse as JSON, kept when every label filter holds."""
    return " | ".join([SERVICE_STREAM, *PARSED, *filters])


def count_by(label: str, *filters: str, window: str = "$__interval") -> str:
    return f"sum by ({label}) (count_over_time({lines(*filters)} [{window}]))"
