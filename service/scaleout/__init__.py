"""The Celery runner, chosen by SEPCONV_BROKER_URL: the app configuration API and workers share
(:mod:`.celery_app`), the API's side (:mod:`.celery_runner`), what ``sepconv worker`` runs
(:mod:`.celery_worker`) and the re-queueing of jobs a Redis restart would strand (:mod:`.broker_rescue`).
Imports celery; nothing outside this package imports it at module level."""
