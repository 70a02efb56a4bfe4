"""Errors shared by the emtag command's subcommands."""


class CommandError(Exception):
    """A failure the user can act on: printed as one line, exit status 2."""
