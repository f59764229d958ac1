"""What the service keeps: content-addressed files (:mod:`.blob_store`, on S3 with :mod:`.blob_backends`), the
SQLite rows of models, datasets and jobs (:mod:`.sqlite_store`), models and datasets as both kept in step
(:mod:`.artifacts`), streamed uploads (:mod:`.uploads`) and what goes after SEPCONV_RETENTION_DAYS
(:mod:`.retention`)."""
