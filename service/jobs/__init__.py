"""Jobs, whichever runner runs them: the queue that records and files them (:mod:`.job_queue`), the tasks the
worker processes run (:mod:`.tasks`) and the file checks in their own worker (:mod:`.validator`)."""
