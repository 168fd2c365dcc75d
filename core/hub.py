"""What every Hub upload checks first: a valid repo id, online mode, and a token (never printed or logged)."""

from __future__ import annotations

import os

from core.errors import InputError, JobError


def token() -> str:
    """HF_TOKEN, else the saved `hf auth login` token; it is only ever handed to the Hub client."""
    from huggingface_hub import get_token

    found = os.environ.get("HF_TOKEN") or get_token()
    if not found:
        raise InputError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    return found


def ready_to_push(repo_id: str) -> str:
    """The token to push `repo_id` with, or one clear line why not (a bad id, offline mode, no token)."""
    from huggingface_hub import is_offline_mode
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise InputError(f"not a Hub repo id: {repo_id!r} (expected user/name)") from None
    if is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}:
        raise JobError(f"cannot push to the Hub ({repo_id}): offline mode is on (HF_HUB_OFFLINE)")
    return token()
