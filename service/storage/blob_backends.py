"""Where blobs live besides the local data directory: an S3-compatible object store.

``SEPCONV_BLOB_URL=s3://bucket/prefix``; credentials, region and endpoint come from the standard
AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``,
``AWS_ENDPOINT_URL`` for MinIO, Ceph or a test server). Objects are ``<prefix>/<sha[:2]>/<sha>``.
Files go up and down in parts of a few MiB (boto3's managed transfers from and to files), never
whole in memory. :class:`.blob_store.BlobStore` keeps the local directory as a cache in front of it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

#: parts of 8 MiB, two at a time: at most ~16 MiB of a file in memory, whatever its size
_PART = 8 * 1024 * 1024


class S3Blobs:
    """Blobs as objects in one bucket, under one prefix."""

    def __init__(self, url: str) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"SEPCONV_BLOB_URL={url!r}: expected s3://bucket/prefix")
        self.bucket, self.prefix = parsed.netloc, parsed.path.strip("/")
        self._client = boto3.client("s3", config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                        connect_timeout=5, read_timeout=60))
        self._transfer = TransferConfig(multipart_threshold=_PART, multipart_chunksize=_PART, max_concurrency=2,
                                        io_chunksize=256 * 1024)

    def key(self, sha256: str) -> str:
        return "/".join(p for p in (self.prefix, sha256[:2], sha256) if p)

    def has(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=self.key(sha256))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def download(self, sha256: str, dest: Path) -> None:
        """Stream the object into ``dest`` (a temporary file the caller renames or removes)."""
        self._client.download_file(self.bucket, self.key(sha256), str(dest), Config=self._transfer)

    def upload(self, src: Path, sha256: str) -> None:
        """Stream ``src`` up (in parts when it is large); an object that exists already is kept."""
        if not self.has(sha256):
            self._client.upload_file(str(src), self.bucket, self.key(sha256), Config=self._transfer)

    def delete(self, sha256: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def reachable(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return True
        except Exception:
            return False
