"""The HTTP routes: the mapping endpoint (mapping.py) and the health, readiness and
metrics endpoints (probes.py). The app (ai_assist/app.py) adds them; what the OpenAPI
document says about them is in ai_assist/openapi_docs.py."""
