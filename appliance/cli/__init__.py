"""The `studio` command: runs the processes and maintains the box over SSH."""
