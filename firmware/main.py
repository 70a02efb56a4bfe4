"""Firmware entry point: boot the tag, then sleep until the next deadline or input."""

import gc

from emtag.firmware.tag import Tag

try:
    from gc import mem_alloc, mem_free
except ImportError:  # CPython, in-process in the simulator: no MicroPython heap
    mem_alloc = mem_free = None


def run(board):
    tag = Tag(board)
    while not board.stopped:
        tag.poll()
        if mem_free is not None and mem_free() < mem_alloc():
            # over half the heap in use: collect now, while idle, not in the middle of work
            gc.collect()
            tag.heap_live_peak = max(tag.heap_live_peak, mem_alloc())
        board.sleep_until(tag.next_deadline())
    tag.shutdown()


def sim():
    """Entry point on the MicroPython unix port inside the simulator."""
    from emtag.firmware.boards import sim as sim_board

    run(sim_board.Board())
