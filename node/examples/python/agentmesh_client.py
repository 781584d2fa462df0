"""A small client for an agentmesh node's local HTTP API, in standard-library Python.

It reads the node's OpenAPI document (/openapi.json) and finds every operation by its
operationId, so it needs no generated code and follows the node's routes as they are:

    client = Client("http://127.0.0.1:7700", token)
    client.call("publishEvent", path={"topic": "news"}, body={"type": "note", "data": "hi"})
    for event in client.stream("streamEvents", path={"topic": "news"}, query={"from": "start"}):
        print(event.id, event.data)

Bytes travel as {"$bytes": "<base64>"} in JSON, both ways.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

# A stream with no event or keep-alive for this long is taken as dead (the node sends a
# keep-alive comment every 15 s).
STREAM_IDLE_TIMEOUT_S = 60


class ApiError(Exception):
    """A failed call: the HTTP status and the node's {error: {code, message}}."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Event:
    """One Server-Sent Event: its id, event name and JSON data."""

    def __init__(self, id, event, data):
        self.id = id
        self.event = event
        self.data = data

    def __repr__(self):
        return f"Event(id={self.id!r}, event={self.event!r}, data={self.data!r})"


class Client:
    """Calls a node's API by operationId (as listed in its /openapi.json)."""

    def __init__(self, base_url, token, timeout=60):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        document = self._request("GET", "/openapi.json", auth=False)
        self.operations = {}
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                if "operationId" in operation:
                    self.operations[operation["operationId"]] = (method.upper(), path)

    def _url(self, operation_id, path, query):
        if operation_id not in self.operations:
            raise KeyError(f"the node has no operation {operation_id!r}; it has: {', '.join(sorted(self.operations))}")
        method, template = self.operations[operation_id]
        url = template
        for name, value in (path or {}).items():
            url = url.replace("{" + name + "}", urllib.parse.quote(str(value), safe=""))
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return method, url

    def _request(self, method, url, body=None, auth=True, headers=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raise _api_error(err) from None

    def call(self, operation_id, path=None, query=None, body=None):
        """Call an operation; returns the decoded JSON body or raises ApiError."""
        method, url = self._url(operation_id, path, query)
        return self._request(method, url, body=body)

    def stream(self, operation_id, path=None, query=None, last_event_id=None):
        """Yield the Events of an SSE operation; pass last_event_id to resume after it."""
        method, url = self._url(operation_id, path, query)
        request = urllib.request.Request(self.base_url + url, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "text/event-stream")
        if last_event_id is not None:
            request.add_header("Last-Event-ID", last_event_id)
        try:
            response = urllib.request.urlopen(request, timeout=STREAM_IDLE_TIMEOUT_S)
        except urllib.error.HTTPError as err:
            raise _api_error(err) from None
        with response:
            id, event, data = None, "message", []
            for raw in response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        yield Event(id, event, json.loads("\n".join(data)))
                    id, event, data = None, "message", []
                elif line.startswith(":"):
                    continue  # a comment: keep-alive
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "id":
                        id = value
                    elif field == "event":
                        event = value
                    elif field == "data":
                        data.append(value)


def _api_error(err):
    try:
        body = json.loads(err.read())["error"]
        return ApiError(err.code, body["code"], body["message"])
    except (ValueError, KeyError, TypeError):
        return ApiError(err.code, "ERR_HTTP", err.reason)
