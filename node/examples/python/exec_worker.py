"""A worker in Python for `agentmesh --exec`: the node claims tasks and this program does them.

    npm run node -- --exec "python3 node/examples/python/exec_worker.py upper"

The protocol is one JSON object per line (NDJSON). This program reads tasks on stdin and writes
results on stdout; its logs go to stderr, which the node forwards to its own log. It says which
queues it works in its first line, and it exits when stdin closes: the node closes it on shutdown,
and the OS closes it when the node dies, even by `kill -9`, so no worker outlives its node.
Standard library only.

Each task's input is {"text": "..."}; the output is {"text": "<TEXT IN UPPER CASE>"}.
--crash-on-attempt N makes the process exit abruptly on attempt N of a task, to show that the node
restarts it and the task is retried.
"""

import argparse
import json
import os
import sys


def send(message):
    """One protocol line on stdout, flushed at once: the node waits for it."""
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def log(text):
    print(f"exec_worker: {text}", file=sys.stderr, flush=True)


def work(task):
    data = task.get("input")
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str):
        # Retrying would not help: the input itself is wrong.
        raise ValueError('input must be {"text": "..."}')
    return {"text": text.upper()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queues", nargs="*", default=["upper"], help="queues to work (default: upper)")
    parser.add_argument("--crash-on-attempt", type=int, default=0, help="exit abruptly on this attempt of a task")
    args = parser.parse_args()

    send({"type": "ready", "queues": args.queues, "concurrency": 1})
    log(f"ready for {', '.join(args.queues)}")
    while True:
        line = sys.stdin.readline()
        if line == "":
            # stdin EOF: the node is stopping or gone. Exit now, or be an orphan.
            log("stdin closed; exiting")
            return 0
        if not line.strip():
            continue
        message = json.loads(line)
        if message.get("type") == "cancel":
            # Tasks run one at a time here, so a cancel arrives only for a task already answered.
            continue
        if message.get("type") != "task":
            continue
        task_id, token, attempt = message["taskId"], message["token"], message["attempt"]
        if attempt == args.crash_on_attempt:
            log(f"crashing on attempt {attempt} of task {task_id}, as asked")
            os._exit(3)
        send({"type": "progress", "taskId": task_id})
        try:
            output = work(message)
        except ValueError as err:
            send({"type": "fail", "taskId": task_id, "token": token, "error": {"type": "ValueError", "message": str(err)}, "retryable": False})
            continue
        send({"type": "publish", "topic": "exec-demo", "event": {"type": "done", "data": {"taskId": task_id}}})
        send({"type": "result", "taskId": task_id, "token": token, "output": output})


if __name__ == "__main__":
    sys.exit(main())
