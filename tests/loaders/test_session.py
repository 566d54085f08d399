"""PinSession: the per-pin hook through which sources share resources."""

import pytest

from labdatasets.loaders.base import PinContext, PinSession


class Resource:
    def __init__(self, log, name, fail=False):
        self.log, self.name, self.fail = log, name, fail
        log.append(f"open {name}")

    def close(self):
        self.log.append(f"close {self.name}")
        if self.fail:
            raise RuntimeError(f"{self.name} failed to close")


def test_one_resource_per_key_closed_newest_first_even_when_one_fails():
    log = []
    session = PinSession({"a": object()})
    first = session.shared("k1", lambda: Resource(log, "one", fail=True))
    assert session.shared("k1", lambda: Resource(log, "again")) is first
    session.shared("k2", lambda: Resource(log, "two"))
    session.shared("k3", lambda: "no close method")
    with pytest.raises(RuntimeError, match="one failed"):
        session.close()
    assert log == ["open one", "open two", "close two", "close one"]
    session.close()  # nothing left to close
    assert log[-1] == "close one"


def test_a_context_without_a_session_opens_and_closes_a_private_resource(tmp_path):
    log = []
    ctx = PinContext(store=None, base_dir=tmp_path, label="x", progress=lambda t, d: (lambda n: None))
    with ctx.shared("k", lambda: Resource(log, "private")) as resource:
        assert resource.name == "private" and ctx.peers() == {}
    assert log == ["open private", "close private"]
    with PinSession({"s": 1}) as session:
        ctx.session = session
        with ctx.shared("k", lambda: Resource(log, "shared")):
            pass
        assert log[-1] == "open shared" and ctx.peers() == {"s": 1}
    assert log[-1] == "close shared"
