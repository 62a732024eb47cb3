"""The Gemini cost optimisation report (the plan's week-3 deliverable).

    python -m ai_assist.costreport --prometheus http://localhost:9090 --window 7d --out DIR
    python -m ai_assist.costreport --from-aggregates FILE --out DIR [--check]

Reads the token, call, retry, waste, duplicate and cache counters from Prometheus over
the window (aggregates.py), prices them (analysis.py) and writes Markdown, HTML, the
aggregates as JSON and matplotlib plots (render.py): spend by token type and model, the
projected month, tokens per request and their trend, tokens wasted on discarded answers,
the share of repeated texts and what the response cache saved or would save, prompt
tokens per candidate and what fewer candidates would save (measured from an experiment's
variants when one ran), and suggestions, each with the monthly saving behind it.
"""
