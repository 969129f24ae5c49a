"""The worker's Redis transport: kombu's, except that a message it cannot read is logged and dropped
instead of ending the worker. With kombu's own, one `LPUSH convforge.jobs 'not json'` stopped the worker
("Unrecoverable error: JSONDecodeError").

Two places can fail on a message before Celery sees it: decoding the JSON popped from the queue, and
reading kombu's envelope (`properties`, `delivery_tag`, the encoded body) from it. Both happen before
the message is recorded as delivered-but-unacknowledged, so dropping it leaves nothing behind. Messages
that are readable but not a valid task (an unknown task name, a wrong content type, bad arguments) are
Celery's to reject, which it does without stopping; job ids are checked by the tasks (lifecycle/job_message.py).
"""
from __future__ import annotations

import json
import logging

from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import Empty
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# How much of a dropped message the log shows.
SHOWN_CHARACTERS = 300


def _drop(raw: object, why: str) -> None:
    log.error("dropped a message from the broker that %s: %.*r", why, SHOWN_CHARACTERS, raw)


def _raw_text(error: Exception) -> object:
    if isinstance(error, json.JSONDecodeError):
        return error.doc
    if isinstance(error, UnicodeDecodeError):
        return error.object
    return "(not kept)"


class Channel(kombu_redis.Channel):
    def basic_consume(self, queue, no_ack, callback, consumer_tag, **kwargs):
        result = super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)
        deliver = self.connection._callbacks[queue]

        def deliver_if_readable(raw_message):
            try:
                self.Message(raw_message, channel=self)
            except Exception as error:  # whatever a malformed envelope raises: KeyError, TypeError, binascii.Error
                _drop(raw_message, f"is not a kombu message ({type(error).__name__}: {error})")
                return None
            return deliver(raw_message)

        self.connection._callbacks[queue] = deliver_if_readable
        return result

    def _brpop_read(self, **options):
        try:
            return super()._brpop_read(**options)
        except (Empty, RedisError, *self.connection_errors):
            raise
        except Exception as error:
            # The popped item is not JSON (or not UTF-8), or handing it over failed some other way;
            # it is no longer in the queue, and the worker goes on with the next one.
            _drop(_raw_text(error), f"could not be read ({type(error).__name__}: {error})")
            return True

    def _get(self, queue):
        try:
            return super()._get(queue)
        except (Empty, RedisError, *self.connection_errors):
            raise
        except Exception as error:
            _drop(_raw_text(error), f"could not be read ({type(error).__name__}: {error})")
            raise Empty() from error


class Transport(kombu_redis.Transport):
    Channel = Channel
