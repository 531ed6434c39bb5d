"""A python-socketio worker, as Celery tasks run them: a write-only client
manager (socketio.RedisManager, socketio.KombuManager or
socketio.KafkaManager, Debian's python3-socketio) publishing to a siogate
cluster.

    /usr/bin/python3 pyworker.py redis|kombu|kafka <url> <channel>

Commands, one JSON object per stdin line, each answered by the line
{"done": n} (n counts the commands) once published:
  {"op": "emit", "event": E, "data": D, "tuple": bool, "namespace": N, "room": R, "skip_sid": S}
      manager.emit(...); with "tuple", D (a list) is sent as a tuple:
      several arguments
  {"op": "close_room", "room": R, "namespace": N}   manager.close_room(...)
  {"op": "disconnect", "sid": S, "namespace": N}    manager.disconnect(...)
  {"op": "json", "message": M}
      M published as python-socketio 5.14 and later publish it (JSON,
      json.dumps of the message dict) on the manager's own connection
  {"op": "pickle", "message": M}
      pickle.dumps(M) on the manager's own connection (the methods 5.7.2
      has no publisher for, enter_room and leave_room, as the versions
      that added them before JSON publish them)
  {"op": "evil"}
      a pickle that would run os.system if unpickled, on the channel
"""
import json
import os
import pickle
import sys

import socketio

kind, url, channel = sys.argv[1:4]
if kind == "redis":
    mgr = socketio.RedisManager(url, channel=channel, write_only=True)
elif kind == "kombu":
    mgr = socketio.KombuManager(url, channel=channel, write_only=True)
elif kind == "kafka":
    mgr = socketio.KafkaManager(url, channel=channel, write_only=True)
else:
    sys.exit("kind must be redis, kombu or kafka")


def raw(body):
    """Publish body as the manager's _publish does, without pickling."""
    if kind == "redis":
        mgr.redis.publish(channel, body)
    elif kind == "kafka":
        if isinstance(body, str):
            body = body.encode()
        mgr.producer.send(channel, value=body)
        mgr.producer.flush()
    else:
        conn = mgr._connection()
        publish = conn.ensure(mgr.producer, mgr.producer.publish)
        publish(body)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned-by-pickle >&2",))


n = 0
for line in sys.stdin:
    if not line.strip():
        continue
    c = json.loads(line)
    op = c["op"]
    if op == "emit":
        data = c.get("data")
        if c.get("tuple"):
            data = tuple(data)
        mgr.emit(c["event"], data, namespace=c.get("namespace"), room=c.get("room"), skip_sid=c.get("skip_sid"))
    elif op == "close_room":
        mgr.close_room(c["room"], namespace=c.get("namespace"))
    elif op == "disconnect":
        mgr.disconnect(c["sid"], namespace=c.get("namespace"))
    elif op == "json":
        raw(json.dumps(c["message"]))
    elif op == "pickle":
        raw(pickle.dumps(c["message"]))
    elif op == "evil":
        raw(pickle.dumps({"method": "emit", "event": "evil", "data": Evil(), "namespace": "/"}))
    else:
        sys.exit("unknown op " + op)
    n += 1
    print(json.dumps({"done": n}), flush=True)
