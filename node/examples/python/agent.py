"""An agent in Python on an agentmesh node, through the node's local HTTP API.

    python3 agent.py --api http://127.0.0.1:7700 --token-file .data/a/api-token [--serve N] [--call PEER_ID]

It publishes and reads events (and resumes an event stream with Last-Event-ID), writes and
reads shared state, and either serves the direct method "reverse" to other agents through the
node's inbox (--serve N: answer N requests, then exit) or calls "reverse" on another agent
(--call PEER_ID). Each step prints one JSON line. Standard library only.
"""

import argparse
import json
import sys
import threading
import time

from agentmesh_client import ApiError, Client

TOPIC = "py-demo"
METHOD = "reverse"
# How long --call keeps retrying while the other agent has not registered its method yet.
CALL_RETRY_S = 30


def say(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def serve(client, count, done):
    """Answer `count` inbox requests for METHOD, then set `done`."""
    served = 0
    for event in client.stream("streamInbox"):
        if event.event != "request" or event.data["method"] != METHOD:
            continue
        text = event.data["payload"]
        client.call("replyRequest", path={"id": event.data["id"]}, body={"payload": text[::-1]})
        served += 1
        say("served", method=METHOD, caller=event.data["from"], payload=text)
        if served >= count:
            break
    done.set()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", required=True, help="the node's API URL (its ready line's \"api\")")
    parser.add_argument("--token-file", required=True, help="the node's <data-dir>/api-token")
    parser.add_argument("--serve", type=int, default=0, help="answer this many 'reverse' requests")
    parser.add_argument("--call", help="peer id of an agent serving 'reverse'")
    args = parser.parse_args()

    with open(args.token_file) as f:
        client = Client(args.api, f.read().strip())

    node = client.call("getNode")
    say("node", peerId=node["peerId"], peers=len(node["peers"]))

    first = client.call("publishEvent", path={"topic": TOPIC}, body={"type": "hello", "data": {"from": node["peerId"]}})
    second = client.call("publishEvent", path={"topic": TOPIC}, body={"type": "bytes", "data": {"$bytes": "AAEC"}})
    say("published", ids=[first["id"], second["id"]])

    page = client.call("listEvents", path={"topic": TOPIC}, query={"limit": 100})
    say("listed", count=len(page["events"]), types=[e["type"] for e in page["events"] if e["author"] == node["peerId"]])

    # Read the stream from our first event on, then drop it and resume after what we read.
    stream = client.stream("streamEvents", path={"topic": TOPIC}, query={"from": "start"})
    seen = next(e for e in stream if e.id == first["id"])
    stream.close()
    resumed = next(client.stream("streamEvents", path={"topic": TOPIC}, last_event_id=seen.id))
    say("resumed", after=seen.id, next=resumed.id, data=resumed.data["data"])

    key = f"py-demo/{node['peerId']}"
    put = client.call("putState", path={"key": key}, body={"value": {"language": "python", "ok": True}})
    entry = client.call("getState", path={"key": key})
    say("state", key=key, replicas=put["replicas"], found=entry["found"], value=entry.get("value"))

    done = threading.Event()
    if args.serve > 0:
        client.call("handleMethod", path={"method": METHOD})
        threading.Thread(target=serve, args=(client, args.serve, done), daemon=True).start()
        say("serving", method=METHOD)

    if args.call:
        deadline = time.monotonic() + CALL_RETRY_S
        while True:
            try:
                reply = client.call("sendRequest", path={"peer": args.call}, body={"method": METHOD, "payload": "hello mesh"})
                break
            except ApiError as err:
                # 404: the other agent has not registered the method yet; 502: not reachable yet.
                if err.status not in (404, 502) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        say("reply", method=METHOD, payload=reply["payload"])

    if args.serve > 0:
        done.wait()
    say("done")


if __name__ == "__main__":
    try:
        main()
    except ApiError as err:
        print(f"agent.py: {err}", file=sys.stderr)
        sys.exit(1)
