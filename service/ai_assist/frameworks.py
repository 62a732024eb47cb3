"""The reporting frameworks the service maps to: a closed set, used as a metric label."""

FRAMEWORKS: tuple[str, ...] = ("GRI", "SASB", "TCFD", "ESRS")
