"""Every port of the bundle, in one place. docker-compose.yml and the stack configs
repeat these numbers in YAML; tests/unit/test_stack_configs.py checks that they agree."""

SERVICE = 8000
GEMINI_EMULATOR = 8090
PROMETHEUS = 9090
ALERTMANAGER = 9093
GRAFANA = 3000
LOKI = 3100
TEMPO = 3200
OTLP_GRPC = 4317
OTLP_HTTP = 4318
ALLOY = 12345
PYROSCOPE = 4040
