"""What alerting/ and dashboards/ both build on, so that neither imports the other: the
plan's thresholds and their SLI queries, the SLOs, the anomaly band, PromQL helpers,
units, durations, fixed uids, and the write/check CLI of generated files."""
