"""Jobs a Redis restart would strand: put their messages back in the queue at once.

With late acks, a worker that takes a job moves its message into kombu's ``unacked`` hash, and
the message goes back to the queue when the worker acknowledges or rejects it, or, if the
worker's connection is gone, when the broker's visibility timeout has passed (set above the job
time limit, so hours for a long job limit). A Redis restart severs every worker's connection:
a worker drops the jobs it had taken but not started (their delivery tags belonged to the old
channel) and cannot put them back while the broker is down, so they would wait out the whole
visibility timeout although no one runs them.

The API sees the restart (the server's ``run_id`` changes; or it resumed jobs after its own
restart) and knows which of its jobs never started. Messages of those jobs that were taken before
the server started are returned to the front of their queue with kombu's own restore; jobs whose
message is nowhere (a broker that lost its data) are published again. In a rare race (a worker
taking a message between the two reads, or in the second after the server started) a job can run
twice; the API files one result, and a delivery after the first run finished answers its stored
result, but two runs at once both convert.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from celery import Celery

log = logging.getLogger("sepconv.service.jobs")


def broker_started(client) -> tuple[str | None, float]:
    """The Redis server's run id (a new one each time it starts; None: not reported) and the latest
    moment it can have started, on its own clock (its uptime is in whole seconds)."""
    info = client.info("server")
    seconds, micros = client.time()
    run_id = info.get("run_id")
    return (str(run_id) if run_id else None), seconds + micros / 1e6 - int(info.get("uptime_in_seconds", 0)) + 1


def _task_id(message: object) -> str | None:
    """The task id of one kombu message (a JSON dict with its headers), or None."""
    try:
        return message["headers"]["id"]  # type: ignore[index]
    except (LookupError, TypeError):
        return None


def _loads(raw: bytes | str | None) -> object:
    try:
        return json.loads(raw) if raw is not None else None
    except ValueError:
        return None


def _queued_ids(channel, queues: Iterable[str]) -> set[str]:
    """The task ids of the messages waiting in these queues (each priority's list of each)."""
    ids = {_task_id(_loads(raw)) for queue in queues
           for key in {channel._q_for_pri(queue, pri) for pri in channel.priority_steps}
           for raw in channel.client.lrange(key, 0, -1)}
    return ids - {None}


def rescue(app: Celery, waiting: set[str], taken_before: float, queues: Iterable[str]) -> tuple[set[str], set[str]]:
    """Return the stranded messages of ``waiting`` jobs to their queues; name the jobs found nowhere.

    ``waiting``: jobs that have not started (no state in the result backend). Returns the ids put
    back in a queue and the ids that are in neither a queue nor ``unacked`` (the caller publishes
    those again).
    """
    restored: set[str] = set()
    held: set[str] = set()
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        qos, client = channel.qos, channel.client
        for tag, taken_at in client.zrange(qos.unacked_index_key, 0, -1, withscores=True):
            entry = _loads(client.hget(qos.unacked_key, tag))  # [message, exchange, routing_key]
            job_id = _task_id(entry[0]) if isinstance(entry, list) and entry else None
            if job_id not in waiting:
                continue
            if taken_at < taken_before:
                qos.restore_by_tag(tag, client=client)  # to the end BRPOP takes next: it waited longest
                restored.add(job_id)
            else:
                held.add(job_id)  # taken since the restart: a live worker has it
        lost = waiting - restored - held - _queued_ids(channel, queues)
    if restored or lost:
        log.warning("broker restarted: %d job(s) put back in the queue, %d to publish again",
                    len(restored), len(lost))
    return restored, lost
