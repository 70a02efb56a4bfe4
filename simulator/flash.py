"""NOR flash model: erase sets a block to 0xFF, programming can only clear bits.

Counts reads, programs and erases (per block, for wear) so runs can report them. A power
cut can land in the middle of a program or an erase (`tear_program`, `tear_erase`): only
part of it reaches the cells, as on a real part whose supply collapses mid-operation.
"""


class FlashError(Exception):
    pass


class PowerCut(BaseException):
    """The tag lost power (a `power_cut` timeline event, simulator/world.py). A
    BaseException, so that no `except Exception` in the firmware can swallow it when it
    runs in-process on CPython."""


class Flash:
    def __init__(self, block_size=4096, block_count=256):
        self.block_size = block_size
        self.block_count = block_count
        self.data = bytearray(b"\xff" * (block_size * block_count))
        self.erases = [0] * block_count
        self.programs = 0
        self.reads = 0

    def _span(self, block, offset, length):
        if not (0 <= block < self.block_count) or offset < 0 or offset + length > self.block_size:
            raise FlashError(
                "access outside flash: block %d offset %d length %d" % (block, offset, length)
            )
        start = block * self.block_size + offset
        return start, start + length

    def read(self, block, offset, length):
        a, b = self._span(block, offset, length)
        self.reads += 1
        return bytes(self.data[a:b])

    def program(self, block, offset, data):
        a, b = self._span(block, offset, len(data))
        # NOR semantics: programming ANDs into the cell, so writing unerased flash shows up
        n = b - a
        old = int.from_bytes(self.data[a:b], "little")
        self.data[a:b] = (old & int.from_bytes(data, "little")).to_bytes(n, "little")
        self.programs += 1

    def erase(self, block):
        a, b = self._span(block, 0, self.block_size)
        self.data[a:b] = b"\xff" * self.block_size
        self.erases[block] += 1

    def tear_program(self, block, offset, data, rng):
        """A program cut short: a random prefix of `data` lands (0 to len - 1 bytes), and of
        the next byte a random subset of the bits it would clear. Returns bytes landed."""
        a, _ = self._span(block, offset, len(data))
        n = len(data)
        landed = rng.randrange(n) if n else 0
        if landed:
            self.program(block, offset, data[:landed])
        else:
            self.programs += 1
        if landed < n:
            self.data[a + landed] &= data[landed] | rng.getrandbits(8)
        return landed

    def tear_erase(self, block, rng):
        """An erase cut short: a random prefix of the block (0 to block size - 1 bytes) is
        erased, the rest keeps its old contents. The block wears all the same. Returns the
        bytes erased."""
        a, _ = self._span(block, 0, self.block_size)
        landed = rng.randrange(self.block_size)
        self.data[a : a + landed] = b"\xff" * landed
        self.erases[block] += 1
        return landed
