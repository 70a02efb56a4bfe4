"""Firmware entry point: boot the tag, then sleep until the next deadline or input."""

import gc

from emtag.firmware.tag import Tag

HEAP = hasattr(gc, "mem_free")  # False on CPython, in-process in the simulator


def run(board):
    # decommissioning wipes keys and data: the tag then starts again as from the factory,
    # once _run has returned, so nothing of the old one is left on the stack
    while _run(board):
        gc.collect()


def _run(board):
    """Boot a tag and run it until the board stops (False) or it asks for a reboot (True)."""
    tag = Tag(board)
    while not board.stopped:
        tag.poll()
        if tag.reboot:
            tag.console.unload()
            return True
        rom = getattr(board, "rom_bytes", 0)  # heap holding firmware code, not data
        if HEAP and gc.mem_free() < gc.mem_alloc() - rom:
            # over half the heap in use: collect now, while idle, not in the middle of work
            gc.collect()
            tag.heap_live_peak = max(tag.heap_live_peak, gc.mem_alloc() - rom)
        board.sleep_until(tag.next_deadline())
    tag.shutdown()
    return False


def sim():
    """Entry point on the MicroPython unix port inside the simulator."""
    from emtag.firmware.boards import sim as sim_board

    run(sim_board.Board())
