"""Watching which layers really ran: the fusion tests count ``call`` invocations."""

from __future__ import annotations


def layer_calls(monkeypatch, cls):
    """The names of the ``cls`` layers whose ``call`` runs from now on (a list that
    grows as they run; ``monkeypatch`` undoes the spy after the test)."""
    calls = []
    original = cls.call

    def spy(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "call", spy)
    return calls
