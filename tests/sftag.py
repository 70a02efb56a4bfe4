"""The tests' name for tools/sftag.py (the host-side tag the bench uses too)."""

from emtag.tools.sftag import T0, FdLink, Fix, PeerLink, SocketLink, Tag, free_port

__all__ = ["T0", "FdLink", "Fix", "PeerLink", "SocketLink", "Tag", "free_port"]
