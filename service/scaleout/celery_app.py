"""The Celery side of the scale-out: one app configuration that the API and the workers share.

Messages are JSON only (never pickle) and carry a job id, a task name and a payload of sha256
keys, ids and options; never file bytes or paths. A job is acknowledged after it ran (late
acks) and a worker takes one job at a time (prefetch 1), so a long job does not hold others
back; a worker process that dies mid-job gets its message delivered again
(``reject_on_worker_lost``). The broker's visibility timeout is above the job time limit, so a
job that is running is never handed to a second worker because it is slow.

Conversions go to the ``convert`` queue, benchmarks to ``bench`` (a worker of their own, one at a
time on an idle host, so their timings are not disturbed).
"""

from __future__ import annotations

from celery import Celery

#: the one task name the workers register; which of the service's tasks it runs is in its arguments
JOB_TASK = "sepconv.job"
#: the queue each of the service's tasks goes to
QUEUES = {"convert": "convert", "benchmark": "bench"}
#: redis keys beside Celery's own: a job was published; a job was cancelled
SENT_KEY = "sepconv:sent:{}"
CANCEL_KEY = "sepconv:cancel:{}"
KEEP_S = 7 * 86400  # results, sent and cancel marks live this long (an API restart finds them within it)


def visibility_timeout(job_timeout_s: float) -> int:
    """Above the job time limit (with room for a slow start), so a running job is not redelivered."""
    return int(job_timeout_s + 60)


def make_celery(broker_url: str, job_timeout_s: float) -> Celery:
    """The Celery app for this broker (also the result backend, where progress and results go)."""
    app = Celery("sepconv", broker=broker_url, backend=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_accept_content=["json"], event_serializer="json",
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_acks_on_failure_or_timeout=True, task_track_started=False,
        task_time_limit=job_timeout_s, task_default_queue=QUEUES["convert"],
        broker_transport_options={"visibility_timeout": visibility_timeout(job_timeout_s)},
        broker_connection_timeout=3, broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        redis_socket_connect_timeout=3, redis_socket_timeout=15, redis_retry_on_timeout=True,
        result_expires=KEEP_S, result_extended=False,
        # a result is not lost because the broker restarts while the job runs: storing it is retried
        result_backend_always_retry=True, result_backend_max_retries=60,
        result_backend_max_sleep_between_retries_ms=2000,
        worker_send_task_events=False, worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app
