"""The base of every error that is the user's to fix (bad config, bad data, bad files).

Entry points print these as one clear message instead of a traceback.
"""


class UserError(Exception):
    """Something the user can fix; the message names the problem and the fix."""
