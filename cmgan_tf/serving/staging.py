"""Writing a directory so that it appears complete or not at all."""

import contextlib
import os
import pathlib
import shutil
import tempfile


@contextlib.contextmanager
def staged_directory(target, *, overwrite=False):
    """Yields a temporary directory that replaces `target` on success.

    The temporary directory is hidden (its name starts with '.') and sits
    beside `target`, on the same file system, so the final rename is atomic.
    If the body raises, the temporary directory is removed and `target` is
    left as it was; with `overwrite`, an existing `target` is replaced only
    once the new one is complete.

    Args:
        target: `pathlib.Path` of the directory to write; its parent must exist.
        overwrite: Replace an existing `target`. The caller checks for an
            existing one when overwriting is not allowed.

    Yields:
        `pathlib.Path` of the directory to fill.
    """
    target = pathlib.Path(target)
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent)
    )
    try:
        yield staging
        if overwrite and target.exists():
            # A rename cannot replace a non-empty directory: move the old one
            # aside first, then delete it once the new one is in place.
            retired = pathlib.Path(
                tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent)
            )
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
