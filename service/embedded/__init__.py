"""The embedded runner, the default: jobs run in a bounded pool of worker processes beside the API
(:mod:`.worker_pool`, and :mod:`.worker` inside each process), under a memory limit (:mod:`.memory_limit`,
which the Celery workers use too)."""
