"""Listeners: each deployed service as a runtime serves it, pausable, with its traffic counted.

Boomi's Listeners panel, for flowhost: `store.py` keeps which services the operator paused
(durable, shared by every gateway on the database), `state.py` holds the in-memory form the Flow
path checks and counts into, and `gateway/api/listeners.py` lists, pauses and resumes them.
"""
