"""The base of every error that is the user's to fix (bad config, bad data, bad files).

Entry points print these as one clear message instead of a traceback.
"""


class UserError(Exception):
    """Something the user can fix; the message names the problem and the fix."""


def user_message(error: UserError) -> str:
    """The error's own message. One raised in a DataLoader worker comes back re-raised with the
    worker's traceback folded into its message; keep only the message's last line."""
    text = str(error)
    if "Original Traceback" in text:
        marker = f"{type(error).__name__}: "
        text = text[text.rfind(marker) + len(marker) :] if marker in text else text
    return text.strip()
