"""The one exception type users see.

Anything that is the user's fault (a bad file, a bad config value, an unknown model name) is raised
as :class:`NucflowError` with a one-line message that names the file and the problem. The CLI prints
that line and exits non-zero; it never shows a traceback for these.
"""


class NucflowError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class ManifestError(NucflowError):
    """A manifest row or file is invalid. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(self.problems[0] if len(self.problems) == 1 else
                         f"{len(self.problems)} problems; first: {self.problems[0]}")
