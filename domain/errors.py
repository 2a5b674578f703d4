"""Domain errors. Each carries the process exit code the CLI turns it into.

Messages are one line that names the problem and, where there is one, the fix.
"""


class HubshipError(Exception):
    """Base of every error hubship reports to a user."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class UserInputError(HubshipError):
    """Bad input or usage: a checkpoint, option, format or destination the user gave is wrong."""

    exit_code = 2


class PublishError(HubshipError):
    """A step failed while building or publishing (not the user's input)."""

    exit_code = 1


class VerificationFailed(HubshipError):
    """Published files do not match their manifest."""

    exit_code = 1


class QualityGateFailed(HubshipError):
    """A built artifact drifted from the reference beyond its threshold."""

    exit_code = 3
