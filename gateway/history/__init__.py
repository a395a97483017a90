"""Execution history (Process Reporting): a summary of every execution, kept in blocks.

`record` queues each execution's row on the hot path, `store` reads and writes the blocks, and
`writer` is the child process that inserts them.
"""
