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
  {"op": "json-emit", "event": E, "data": D, "tuple": bool, "form": F, "room": R, "skip_sid": S}
      the emit message python-socketio's write-only PubSubManager.emit
      builds and publishes as JSON (json_emit below), in form "5.16" (the
      current release) or "5.15" (5.14.2 to 5.15.x, data not wrapped);
      in D, {"$bytes": HEX} stands for bytes
  {"op": "pickle", "message": M}
      pickle.dumps(M) on the manager's own connection (the methods 5.7.2
      has no publisher for, enter_room and leave_room, as the versions
      that added them before JSON publish them)
  {"op": "evil"}
      a pickle that would run os.system if unpickled, on the channel
"""
import base64
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


def with_bytes(v):
    """The command's data with each {"$bytes": HEX} made bytes."""
    if isinstance(v, dict):
        if set(v) == {"$bytes"}:
            return bytes.fromhex(v["$bytes"])
        return {k: with_bytes(x) for k, x in v.items()}
    if isinstance(v, list):
        return [with_bytes(x) for x in v]
    return v


def is_binary(v):
    # python-socketio's Packet.data_is_binary: bytes anywhere in lists and
    # dict values.
    if isinstance(v, bytes):
        return True
    if isinstance(v, list):
        return any(is_binary(x) for x in v)
    if isinstance(v, dict):
        return any(is_binary(x) for x in v.values())
    return False


def deconstruct(v, attachments):
    # python-socketio's Packet.deconstruct_binary: each bytes becomes
    # {"_placeholder": True, "num": its index among the attachments}.
    if isinstance(v, bytes):
        attachments.append(v)
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(v, list):
        return [deconstruct(x, attachments) for x in v]
    if isinstance(v, dict):
        return {k: deconstruct(x, attachments) for k, x in v.items()}
    return v


def json_emit(event, data, namespace, room, skip_sid, form):
    """The JSON message of PubSubManager.emit without a callback, as
    src/socketio/pubsub_manager.py builds it: in 5.16 (commit 6229261)
    data is wrapped in a list (a tuple's items, or [data]); from 5.14.2
    (commit bab4a10) binary data is deconstructed and its attachments
    follow in base64; the redis, kombu and kafka managers then publish
    json.dumps(message)."""
    if form == "5.16":
        data = list(data) if isinstance(data, tuple) else [data]
    binary = is_binary(data)
    if binary:
        attachments = []
        data = deconstruct(data, attachments)
        data = [data, *[base64.b64encode(a).decode() for a in attachments]]
    return {"method": "emit", "event": event, "data": data,
            "binary": binary, "namespace": namespace or "/", "room": room,
            "skip_sid": skip_sid, "callback": None, "host_id": mgr.host_id}


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
    elif op == "json-emit":
        data = with_bytes(c.get("data"))
        if c.get("tuple"):
            data = tuple(data)
        raw(json.dumps(json_emit(c["event"], data, c.get("namespace"), c.get("room"), c.get("skip_sid"), c["form"])))
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
