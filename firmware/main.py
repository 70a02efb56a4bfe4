"""Firmware entry point: boot the tag, then sleep until the next deadline or input."""

from emtag.firmware.tag import Tag


def run(board):
    tag = Tag(board)
    while not board.stopped:
        tag.poll()
        board.sleep_until(tag.next_deadline())
    tag.shutdown()


def sim():
    """Entry point on the MicroPython unix port inside the simulator."""
    from emtag.firmware.boards import sim as sim_board

    run(sim_board.Board())
