"""`make scale-check`: the rules and dashboards on a backfilled TSDB of many replicas.

    series.py       the series one replica exposes, read from the service's own metric
                    catalogue (ai_assist.telemetry.metrics.Metrics on a fresh registry)
    traffic.py      how each series moves over time: counters at plausible rates with
                    incidents and restarts, gauges that wander, histograms by bucket
    openmetrics.py  OpenMetrics text, one file per TSDB block range
    recorded.py     the recording rules' own output, learned from a small pilot on which
                    the real Prometheus evaluates prometheus/rules/*.yml, then generated
                    as history (N-independent, so it spans the longest rule window)
    promtool.py     `promtool tsdb create-blocks-from openmetrics`
    prometheus.py   a Prometheus process on a TSDB, and queries with stats=all
    queries.py      every recording rule, alert and dashboard target, Grafana's
                    variables filled, and how far back each reads
    budgets.py      the budgets the check enforces (one place)
    run.py          the simulation: generate, backfill, serve, measure, per N
    report.py       the table, the plot, the budget verdicts
    __main__.py     the command line
"""
