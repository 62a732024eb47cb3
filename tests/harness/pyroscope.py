"""A loopback stand-in for the Pyroscope server: it takes what the real SDK pushes and
decodes it with the protobuf library into stacks, so tests read profiles as Pyroscope
would.

The SDK (pyroscope-io 1.x) posts `/push.v1.PusherService/Push` (Connect protocol,
`application/proto`, gzip): a push.v1.PushRequest whose series carry the profile's
labels and raw pprof profiles (perftools.profiles.Profile). The message types are built
here from descriptors with the fields the tests read (protobuf skips the rest), since
neither proto ships in a Python package. Any other path (/ready, OTLP's /v1/traces)
answers 200 with an empty body, so the receiver can stand in for Tempo's collector too.
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PUSH_PATH = "/push.v1.PusherService/Push"

_F = descriptor_pb2.FieldDescriptorProto


def _message(file: descriptor_pb2.FileDescriptorProto, name: str, *fields) -> None:
    message = file.message_type.add(name=name)
    for number, (field_name, kind, label, type_name) in enumerate(fields, 1):
        if field_name is None:
            continue  # a field number the tests do not read
        f = message.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            f.type_name = type_name


def _build() -> dict[str, type]:
    one, many = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    i64, u64, s, b, m = _F.TYPE_INT64, _F.TYPE_UINT64, _F.TYPE_STRING, _F.TYPE_BYTES, \
        _F.TYPE_MESSAGE
    file = descriptor_pb2.FileDescriptorProto(name="ai_assist_test_pyroscope.proto",
                                              package="t", syntax="proto3")
    # perftools.profiles (github.com/google/pprof/proto/profile.proto)
    _message(file, "ValueType", ("type", i64, one, ""), ("unit", i64, one, ""))
    _message(file, "Label", ("key", i64, one, ""), ("str", i64, one, ""),
             ("num", i64, one, ""))
    _message(file, "Sample", ("location_id", u64, many, ""), ("value", i64, many, ""),
             ("label", m, many, ".t.Label"))
    _message(file, "Line", ("function_id", u64, one, ""), ("line", i64, one, ""))
    _message(file, "Location", ("id", u64, one, ""), (None, 0, 0, ""), (None, 0, 0, ""),
             ("line", m, many, ".t.Line"))
    _message(file, "Function", ("id", u64, one, ""), ("name", i64, one, ""),
             ("system_name", i64, one, ""), ("filename", i64, one, ""))
    _message(file, "Profile", ("sample_type", m, many, ".t.ValueType"),
             ("sample", m, many, ".t.Sample"), (None, 0, 0, ""),
             ("location", m, many, ".t.Location"), ("function", m, many, ".t.Function"),
             ("string_table", s, many, ""))
    # push.v1 / types.v1 (github.com/grafana/pyroscope/api)
    _message(file, "LabelPair", ("name", s, one, ""), ("value", s, one, ""))
    _message(file, "RawSample", ("raw_profile", b, one, ""), ("ID", s, one, ""))
    _message(file, "RawProfileSeries", ("labels", m, many, ".t.LabelPair"),
             ("samples", m, many, ".t.RawSample"))
    _message(file, "PushRequest", ("series", m, many, ".t.RawProfileSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"t.{name}"))
            for name in ("Profile", "PushRequest")}


_TYPES = _build()


@dataclass(frozen=True)
class Frame:
    function: str
    filename: str


@dataclass
class StackSample:
    stack: tuple[Frame, ...]  # root first
    value: int
    labels: dict[str, str]  # the last value of each key
    label_pairs: tuple[tuple[str, str], ...] = ()  # all of them: a key may repeat


@dataclass
class Profile:
    labels: dict[str, str]  # the series' labels: service_name, the SDK's tags...
    sample_types: list[str]  # type:unit
    samples: list[StackSample] = field(default_factory=list)


def decode_pprof(raw: bytes) -> tuple[list[str], list[StackSample]]:
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    profile = _TYPES["Profile"].FromString(raw)
    strings = list(profile.string_table)
    functions = {f.id: Frame(strings[f.name], strings[f.filename]) for f in profile.function}
    locations = {loc.id: [functions[line.function_id] for line in loc.line]
                 for loc in profile.location}
    samples = []
    for sample in profile.sample:
        leaf_first = [frame for loc in sample.location_id for frame in locations[loc]]
        pairs = tuple((strings[label.key], strings[label.str]) for label in sample.label)
        samples.append(StackSample(tuple(reversed(leaf_first)), sum(sample.value),
                                   dict(pairs), pairs))
    types = [f"{strings[t.type]}:{strings[t.unit]}" for t in profile.sample_type]
    return types, samples


def decode_push(body: bytes, content_encoding: str = "") -> list[Profile]:
    if content_encoding == "gzip":
        body = gzip.decompress(body)
    profiles = []
    for series in _TYPES["PushRequest"].FromString(body).series:
        labels = {pair.name: pair.value for pair in series.labels}
        for raw in series.samples:
            types, samples = decode_pprof(raw.raw_profile)
            profiles.append(Profile(labels, types, samples))
    return profiles


class PyroscopeReceiver:
    """Accepts pushes on a loopback port and keeps the decoded profiles."""

    def __init__(self, port: int = 0) -> None:
        self.profiles: list[Profile] = []
        self.pushes = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == PUSH_PATH:
                    decoded = decode_push(body, self.headers.get("content-encoding", ""))
                    with receiver._lock:
                        receiver.pushes += 1
                        receiver.profiles.extend(decoded)
                self._empty()

            def do_GET(self):
                self._empty()

            def _empty(self):
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def samples(self) -> list[tuple[Profile, StackSample]]:
        with self._lock:
            return [(p, s) for p in self.profiles for s in p.samples]

    def __enter__(self) -> PyroscopeReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
