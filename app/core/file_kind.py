"""What a path is when it is not a regular file (for errors naming it): one answer for inputs and outputs."""
from __future__ import annotations

import stat


def describe_kind(mode: int) -> str:
    """What a non-regular file is, from its st_mode: 'a symbolic link', 'a directory', ..."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"
