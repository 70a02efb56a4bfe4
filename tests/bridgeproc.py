"""The tests' name for tools/bridgeproc.py (`emtag bridge` as a child process)."""

from emtag.tools.bridgeproc import BridgeProc

__all__ = ["BridgeProc"]
