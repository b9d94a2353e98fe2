"""Any S3-compatible endpoint through boto3: multipart for large objects, retries that lose nothing.

A PUT of the same key with the same bytes is idempotent, so retrying a whole upload after a
dropped connection can neither lose a segment nor duplicate one.
"""

from __future__ import annotations

import io
import logging
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from openstage.storage.base import BucketError, BucketMissing, StorageError

log = logging.getLogger("openstage.storage")

MULTIPART_THRESHOLD = 8 * 1024 * 1024  # S3's own default; parts of the same size
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)  # about 16 s of outage survived, then the upload fails
PROBE_KEY = ".openstage-write-check"


class S3Storage:
    def __init__(
        self,
        endpoint_url: str,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            # None, not "": without keys boto3 looks for them itself (environment, profile, instance role)
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                s3={"addressing_style": "path"},  # S3-compatible servers rarely have per-bucket host names
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_threshold, use_threads=False
        )
        self._delays = retry_delays

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        for attempt in range(len(self._delays) + 1):
            try:
                self._client.upload_fileobj(
                    io.BytesIO(body), bucket, key, ExtraArgs={"ContentType": content_type}, Config=self._transfer
                )
                return
            except (BotoCoreError, ClientError, boto3.exceptions.S3UploadFailedError) as error:
                if attempt == len(self._delays) or not _transient(error):
                    raise StorageError(f"cannot write s3://{bucket}/{key}: {error}") from error
                log.warning("upload of s3://%s/%s failed (%s), retrying", bucket, key, error)
                time.sleep(self._delays[attempt])

    def check_bucket(self, bucket: str) -> None:
        """HeadBucket says it exists; writing and deleting a probe object says we may write to it."""
        try:
            self._client.head_bucket(Bucket=bucket)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise BucketMissing(f"The specified bucket does not exist: {bucket}") from None
            raise BucketError(f"Access denied to bucket {bucket}: {code}") from None
        except BotoCoreError as error:
            raise BucketError(f"Bucket {bucket} cannot be reached: {error}") from None
        try:
            self._client.put_object(Bucket=bucket, Key=PROBE_KEY, Body=b"")
            self._client.delete_object(Bucket=bucket, Key=PROBE_KEY)
        except (BotoCoreError, ClientError) as error:
            raise BucketError(f"Access denied: cannot write to bucket {bucket}: {error}") from None

    def prepare_bucket(self, bucket: str) -> None:
        """Nothing to do: the credentials given already may write (check_bucket proved it); AWS would edit
        the bucket policy here instead."""


def _transient(error: Exception) -> bool:
    """Connection trouble and 5xx/throttling are worth retrying; a refusal (403, 404) is not."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or status == 429
    if isinstance(error, boto3.exceptions.S3UploadFailedError):
        return not any(f"({code})" in str(error) for code in ("AccessDenied", "NoSuchBucket"))
    return True
