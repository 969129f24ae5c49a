"""Queued jobs whose message never reached the broker, or was lost there, are sent again.

A job row is committed as `queued` before the API sends its message. If the API process dies in
between, or Redis loses a message it had accepted (a crash with `appendfsync everysec`), the row stays
`queued` and no worker will ever hear of it. This check finds such jobs: queued for longer than a grace
period and with no message for them in the broker, neither waiting in the queue's Redis lists nor
delivered and unacknowledged (kombu's `unacked` hash). Only those are sent again, so a long queue of
jobs that are simply waiting their turn is not duplicated.

How kombu's Redis transport keeps messages (kombu/transport/redis.py):
- a queue is a Redis list named after it, `LPUSH`ed by senders and `BRPOP`ped by workers; a message
  sent with a priority goes to `<queue>\\x06\\x16<step>` instead (priority steps 0, 3, 6, 9);
- each item is the message as JSON: `headers.task`, `headers.id`, `headers.argsrepr`, and `body`,
  the base64 of `[args, kwargs, embed]`;
- a delivered message waits for its ack in the hash `unacked` (delivery tag -> `[message, exchange,
  routing_key]`) until the task ends (`task_acks_late`).

The broker is read with two cheap calls: the lengths first, then one MULTI with the bounded LRANGEs
and HGETALL, so the lists and the hash are one consistent snapshot. When a list is longer than the
bound, or a message of ours cannot be read, nothing is sent: absence cannot be proven, and lost jobs
are found once the queue is shorter. When Redis cannot be reached, the check is skipped and logged.

A message taken by a worker sits in neither place for the moment between its `BRPOP` and its entry in
`unacked`; a re-send in that moment is a duplicate, which is harmless: the claim is a conditional
UPDATE, so the second delivery finds the job no longer queued and is acknowledged without effect.
"""
from __future__ import annotations

import ast
import base64
import json
import logging
from datetime import timedelta
from typing import Callable, Iterable

import redis
from kombu.transport.redis import PRIORITY_STEPS, Channel
from sqlalchemy import select

from shared.db.models import Job, utcnow
from shared.db.session import session_scope
from shared.jobs import JOB_TASKS, TASK_BY_KIND, as_utc
from shared.queue import JOB_QUEUE

log = logging.getLogger(__name__)

# Messages read per list at most; a longer queue is not checked (see the module's docstring).
MAX_MESSAGES_READ = 5000
# Set (with an expiry) by the worker whose turn it is, so many workers do not all read the queue.
SWEEP_TURN_KEY = "convforge:lost-message-check"


class CannotTell(Exception):
    """The broker's contents cannot show which jobs have a message."""


def queue_keys(queue: str = JOB_QUEUE) -> list[str]:
    """The Redis lists kombu keeps for `queue`: the queue's own and one per priority step above 0."""
    return [queue] + [f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS if step]


def message_target(message: bytes | str | dict) -> tuple[str, int] | None:
    """`(task name, job id)` of one of our messages (as stored, or already parsed), None for anyone
    else's; CannotTell when a message of ours carries no readable job id."""
    if isinstance(message, (bytes, str)):
        try:
            message = json.loads(message)
        except ValueError:
            return None
    if not isinstance(message, dict):
        return None
    headers = message.get("headers") or {}
    task = headers.get("task")
    body = _decoded_body(message)
    if task is None and isinstance(body, dict):  # Celery's message protocol 1: all in the body
        task = body.get("task")
    if task not in JOB_TASKS:
        return None
    for args in (_args_from_body(body), _args_from_repr(headers.get("argsrepr"))):
        if args:
            try:
                return task, int(args[0])
            except (TypeError, ValueError):
                continue
    raise CannotTell(f"a {task} message (id {headers.get('id')}) carries no readable job id")


def _decoded_body(message: dict):
    body = message.get("body")
    if not isinstance(body, str):
        return None
    try:
        if (message.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        return json.loads(body)
    except ValueError:  # binascii.Error is a ValueError
        return None


def _args_from_body(body) -> list | None:
    if isinstance(body, list) and body and isinstance(body[0], list):  # protocol 2: [args, kwargs, embed]
        return body[0]
    if isinstance(body, dict) and isinstance(body.get("args"), list):  # protocol 1
        return body["args"]
    return None


def _args_from_repr(argsrepr) -> list | None:
    if not isinstance(argsrepr, str):
        return None
    try:
        args = ast.literal_eval(argsrepr)
    except (ValueError, SyntaxError):
        return None
    return list(args) if isinstance(args, (list, tuple)) else None


def messages_in_broker(client: redis.Redis, queue: str = JOB_QUEUE, limit: int = MAX_MESSAGES_READ
                       ) -> set[tuple[str, int]]:
    """`(task, job id)` of every message of ours waiting in `queue` or delivered and not yet acknowledged.

    Raises CannotTell when a list holds more than `limit` messages, and redis errors as they come.
    """
    keys = queue_keys(queue)
    sizes = client.pipeline(transaction=False)
    for key in keys:
        sizes.llen(key)
    sizes.hlen(Channel.unacked_key)
    *lengths, unacked_count = sizes.execute()
    if max(lengths) > limit or unacked_count > limit:
        raise CannotTell(f"the broker holds {sum(lengths)} waiting and {unacked_count} unacknowledged messages, "
                         f"more than the {limit} a check reads")
    snapshot = client.pipeline(transaction=True)  # MULTI/EXEC: the lists and the hash at one instant
    for key in keys:
        snapshot.lrange(key, 0, limit - 1)
    snapshot.hgetall(Channel.unacked_key)
    *lists, unacked = snapshot.execute()
    if any(len(items) >= limit for items in lists):
        raise CannotTell(f"a list of queue {queue} grew past the {limit} messages a check reads")
    messages: list = [item for items in lists for item in items]
    for delivery in unacked.values():
        try:
            messages.append(json.loads(delivery)[0])  # [message, exchange, routing_key]
        except (ValueError, IndexError, TypeError, KeyError):
            continue  # not a kombu delivery: not ours
    return {target for message in messages if (target := message_target(message)) is not None}


def resend_lost_messages(database_url: str, broker_url: str, grace_seconds: float,
                         send: Callable[[str, int], None], *, queue: str = JOB_QUEUE,
                         limit: int = MAX_MESSAGES_READ, turn_seconds: float | None = None) -> list[int]:
    """Send again the message of every job queued for longer than `grace_seconds` that has none in the
    broker; returns their ids.

    A job's time in the queue counts from its last heartbeat when it has one (a job given back on
    shutdown or by the reaper), else from its creation. With `turn_seconds`, only one caller in that
    many seconds reads the broker (a Redis key with an expiry); the others return at once.
    """
    overdue = _overdue_jobs(database_url, grace_seconds)
    if not overdue:
        return []
    client = redis.Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=10)
    try:
        if turn_seconds is not None and not client.set(SWEEP_TURN_KEY, "1", nx=True,
                                                       px=max(int(turn_seconds * 1000), 1)):
            return []
        present = messages_in_broker(client, queue, limit)
    except CannotTell as reason:
        log.warning("not looking for lost job messages this time: %s", reason)
        return []
    except (redis.RedisError, OSError) as exc:
        log.warning("not looking for lost job messages this time: the broker cannot be reached (%s)", exc)
        return []
    finally:
        client.close()

    missing = {job_id: kind for job_id, kind in overdue.items() if (TASK_BY_KIND[kind], job_id) not in present}
    # Read again: a job may have been claimed and finished while the broker was read.
    lost = sorted(_still_queued(database_url, missing))
    for job_id in lost:
        log.warning("job %s has been queued for over %ss with no message in the broker; sending it again",
                    job_id, grace_seconds)
        send(TASK_BY_KIND[missing[job_id]], job_id)
    return lost


def _overdue_jobs(database_url: str, grace_seconds: float) -> dict[int, str]:
    now = utcnow()
    grace = timedelta(seconds=grace_seconds)
    with session_scope(database_url) as session:
        rows = session.execute(
            select(Job.id, Job.kind, Job.created_at, Job.heartbeat_at).where(Job.status == "queued")
        ).all()
    return {row.id: row.kind for row in rows
            if row.kind in TASK_BY_KIND and now - as_utc(row.heartbeat_at or row.created_at) > grace}


def _still_queued(database_url: str, job_ids: Iterable[int]) -> set[int]:
    job_ids = list(job_ids)
    if not job_ids:
        return set()
    with session_scope(database_url) as session:
        return set(session.scalars(select(Job.id).where(Job.id.in_(job_ids), Job.status == "queued")))
