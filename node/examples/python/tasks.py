"""A manager and a worker in Python sharing work through an agentmesh task queue, over the
node's local HTTP API (standard library only).

    python3 tasks.py --api URL --token-file FILE manager --queue Q --count N [--members A,B,C]
    python3 tasks.py --api URL --token-file FILE worker --queue Q --count N

The manager opens the queue (with --members it creates it: the peer ids of its 1, 3 or 5
replicas), submits N tasks, follows the first one on its SSE stream (watchTask), and collects
every result with the long-poll getTaskResult. The worker long-polls claimTask, renews each
lease once (a heartbeat: a long job renews well within leaseMs), and completes each task with
its lease's fencing token. The first attempt of a task whose input says "flaky" fails as
retryable, so the queue hands it out again. Both exit after N tasks; each step prints one JSON
line. Operations are found by operationId in /openapi.json.
"""

import argparse
import json
import sys
import time

from agentmesh_client import ApiError, Client

# How long the worker keeps looking for a queue the manager has not created yet.
OPEN_RETRY_S = 60
# One claim long-polls this long (the API allows up to 60 s).
CLAIM_WAIT_MS = 5000
# One result long poll.
RESULT_WAIT_MS = 30000


def say(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


def open_queue(client, queue, members):
    body = {"members": members} if members else {}
    deadline = time.monotonic() + OPEN_RETRY_S
    while True:
        try:
            return client.call("openQueue", path={"queue": queue}, body=body)
        except ApiError as err:
            # 404: nobody created the queue yet; 503: its replicas have no leader yet.
            if err.status not in (404, 503) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def manager(client, args):
    members = [m for m in (args.members or "").split(",") if m]
    opened = open_queue(client, args.queue, members)
    say("opened", queue=opened["name"], members=opened["members"])
    ids = []
    for i in range(args.count):
        text = f"task {i}" + (" flaky" if i == 0 else "")
        submitted = client.call("submitTask", path={"queue": args.queue}, body={"input": {"text": text}, "idempotencyKey": f"py-{i}"})
        ids.append(submitted["id"])
    say("submitted", ids=ids)

    # Follow the first task to its end on the SSE stream: a `task` snapshot, then `state` changes.
    states = []
    for event in client.stream("watchTask", path={"queue": args.queue, "taskId": ids[0]}):
        state = event.data["state"]
        if not states or states[-1] != state:
            states.append(state)
        if state in ("completed", "failed", "canceled", "rejected"):
            break
    say("watched", taskId=ids[0], states=states)

    for task_id in ids:
        while True:
            outcome = client.call("getTaskResult", path={"queue": args.queue, "taskId": task_id}, query={"waitMs": RESULT_WAIT_MS})
            if outcome["done"]:
                break
        say("result", taskId=task_id, state=outcome["state"], result=outcome.get("result"))
    task = client.call("getTask", path={"queue": args.queue, "taskId": ids[0]})
    say("done", attempts=task["attempt"])


def worker(client, args):
    open_queue(client, args.queue, [])
    say("working", queue=args.queue)
    done = 0
    while done < args.count:
        claimed = client.call("claimTask", path={"queue": args.queue}, body={"max": 1, "waitMs": CLAIM_WAIT_MS})
        for task in claimed["tasks"]:
            path = {"queue": args.queue, "taskId": task["taskId"]}
            client.call("renewTask", path=path, body={"token": task["token"]})
            text = task["input"]["text"]
            if "flaky" in text and task["attempt"] == 1:
                client.call("failTask", path=path, body={"token": task["token"], "error": {"type": "flaky", "message": "first attempt fails on purpose"}, "retryable": True})
                say("failed", taskId=task["taskId"], attempt=task["attempt"])
                continue
            try:
                client.call("completeTask", path=path, body={"token": task["token"], "output": {"text": text[::-1]}})
            except ApiError as err:
                # 409: the lease was lost (another worker owns the task now): drop it.
                if err.status != 409:
                    raise
                say("stale", taskId=task["taskId"], token=task["token"])
                continue
            done += 1
            say("completed", taskId=task["taskId"], attempt=task["attempt"], token=task["token"])
    say("done", completed=done)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", required=True, help="the node's API URL (its ready line's \"api\")")
    parser.add_argument("--token-file", required=True, help="the node's <data-dir>/api-token")
    parser.add_argument("role", choices=["manager", "worker"])
    parser.add_argument("--queue", required=True)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--members", help="manager: comma-separated peer ids of the queue's replicas (creates it)")
    args = parser.parse_args()
    with open(args.token_file) as f:
        client = Client(args.api, f.read().strip())
    (manager if args.role == "manager" else worker)(client, args)


if __name__ == "__main__":
    try:
        main()
    except ApiError as err:
        print(f"tasks.py: {err}", file=sys.stderr)
        sys.exit(1)
