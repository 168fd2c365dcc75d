"""What every Hub upload shares: the checks first (a valid repo id, online mode, a token that is never printed or
logged), and one line instead of the many exceptions an upload can end in."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from core.errors import InputError, JobError
from core.events import library_bars_off

REASON_LIMIT = 300  # characters of the Hub's own message kept in the one line


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


def no_hub_bars() -> contextlib.AbstractContextManager[None]:
    """huggingface_hub draws a tqdm bar per uploaded file, which would tear the TUI (and says nothing the one result
    line does not)."""
    return library_bars_off("huggingface_hub.utils")


@contextlib.contextmanager
def one_line_errors(repo_id: str, secret: str) -> Iterator[None]:
    """Turn whatever an upload raises (network, HTTP and auth errors come from several libraries) into one
    JobError line, with `secret` masked: a Hub or proxy may echo the credentials back in its error."""
    try:
        yield
    except Exception as err:
        reason = " ".join(str(err).replace(secret, "***").split()) or type(err).__name__
        raise JobError(f"could not push to the Hub ({repo_id}): {reason[:REASON_LIMIT]}") from None
