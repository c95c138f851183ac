"""Content-addressed store: BLAKE3-named sealed files and the staging area they are written in."""

from appliance.cas.digest import Digest, DigestError, new_staging_id
from appliance.cas.store import ContentMissing, ContentStore, SealError, StagingFile, VerifyReport

__all__ = [
    "ContentMissing",
    "ContentStore",
    "Digest",
    "DigestError",
    "SealError",
    "StagingFile",
    "VerifyReport",
    "new_staging_id",
]
