# Power-cut harness for the record log, run on the MicroPython unix port by tools/powercut.py:
#     micropython powercut_device.py SEED CUT,CUT,... TORN,TORN,...
# One run: a fresh littlefs (vfs.VfsLfs2) on a RAM block device, a seeded workload of
# appends (fixes asked through the thinning policy and written as the tag writes them, a
# compact entry laid out by the caller; alerts never asked, written whole), acknowledgements
# and the reclaims they trigger, with a power cut at a chosen block write after each boot. A CUT is
# a phase letter and a count: "a40" the 40th block write (program or erase) of any kind,
# "p7" the 7th made while appending, "k3" while writing an acknowledgement, "r2" while
# reclaiming segments, "b4" while booting (mount, log recovery, the restart record; a boot
# with fewer writes is cut just after it, between writes). That write raises PowerCut and is
# left undone (TORN 0) or half done (TORN 1). After each cut the same bytes are mounted
# again by a fresh VfsLfs2 and RecordLog, and checked against what the previous incarnation
# had reported durable.
# Output: one line per cut, "CUT n phase=... torn=... ok" or "... FAIL reason", then "DONE".
import gc
import hashlib
import sys

import vfs

from emtag.firmware.recordlog import RecordLog
from emtag.protocol.fixcodec import crc16

BLOCK_SIZE = 512
BLOCK_COUNT = 256  # 128 KiB of flash
BUDGET = 40 * 1024  # the log's max_bytes: small, so runs reach the thinning bands
SEGMENT = 2048
OPS_MAX = 20000  # an incarnation whose cut point never comes ends here (a failure)


class PowerCut(Exception):
    pass


SCRATCH = bytearray(BLOCK_SIZE * BLOCK_COUNT)  # the flash as the dead see it (see bury)


class Flash:
    """One incarnation's view of the RAM flash: counts block writes, dies at the chosen one."""

    def __init__(self, data, cut_at, torn, phases=None):
        self.data = data
        self.cut_at = cut_at  # the cut_at-th counted write from now fails (0: never)
        self.phases = phases  # count only writes made in these phases (None: all)
        self.torn = torn
        self.writes = 0
        self.dead = False  # the cut happened: every further write raises PowerCut
        self.zombie = False  # see bury()

    def bury(self):
        """After the cut: what the dead incarnation still holds (open files, closed by their
        finalisers during a collection, when the heap is locked) works on a scratch copy of
        the flash, allocating nothing, and can never reach the real one."""
        SCRATCH[:] = self.data
        self.data = SCRATCH
        self.zombie = True

    def _tick(self):
        if self.phases is not None and Phase.now not in self.phases:
            return False
        self.writes += 1
        if self.cut_at and self.writes >= self.cut_at:
            gc.disable()  # no finaliser may run before bury(): the heap could be locked
            return True
        return False

    def readblocks(self, block, buf, offset=0):
        a = block * BLOCK_SIZE + offset
        if self.zombie:
            data = self.data
            for i in range(len(buf)):
                buf[i] = data[a + i]
            return
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        if self.dead and not self.zombie:
            raise PowerCut()
        if offset is None:
            self.ioctl(6, block)
            offset = 0
        a = block * BLOCK_SIZE + offset
        if self.zombie:
            data = self.data
            for i in range(len(buf)):
                data[a + i] = buf[i]
            return
        if self._tick():
            self.dead = True
            if self.torn:
                half = len(buf) // 2
                self.data[a : a + half] = buf[:half]
            raise PowerCut()
        self.data[a : a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return BLOCK_COUNT
        if op == 5:
            return BLOCK_SIZE
        if op == 6:
            if self.dead and not self.zombie:
                raise PowerCut()
            a = arg * BLOCK_SIZE
            if self.zombie:
                data = self.data
                for i in range(a, a + BLOCK_SIZE):
                    data[i] = 0xFF
                return 0
            if self._tick():
                self.dead = True
                if self.torn:
                    self.data[a : a + BLOCK_SIZE // 2] = b"\xff" * (BLOCK_SIZE // 2)
                raise PowerCut()
            self.data[a : a + BLOCK_SIZE] = b"\xff" * BLOCK_SIZE
        return 0


class Phase:
    now = "mount"


class WatchFs:
    """The vfs as the log sees it, noting which phase each operation belongs to."""

    def __init__(self, fs):
        self.fs = fs

    def open(self, path, mode="r"):
        if "r" not in mode and path.endswith(".tmp") and not path.endswith("acked.tmp"):
            Phase.now = "repair"  # rewriting a damaged segment
        return self.fs.open(path, mode)

    def remove(self, path):
        if Phase.now != "open":
            Phase.now = "reclaim"
        return self.fs.remove(path)

    def rename(self, a, b):
        return self.fs.rename(a, b)

    def mkdir(self, path):
        return self.fs.mkdir(path)

    def ilistdir(self, path):
        return self.fs.ilistdir(path)

    def stat(self, path):
        return self.fs.stat(path)


class Rng:
    def __init__(self, seed):
        self.s = (seed * 2654435761 + 12345) & 0xFFFFFFFF or 1

    def next(self, n):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s % n


def h8(rec):
    return hashlib.sha256(rec).digest()[:8] if rec else bytes(8)


def make(kind, seq, prev, boot, n):
    body = bytearray(kind + seq.to_bytes(4, "little") + h8(prev))
    fill = (seq * 31 + boot * 7) & 0xFF
    for i in range(n):
        body.append((fill + i) & 0xFF)
    return bytes(body)


def fix_head(n):
    return bytes([0x40 | n]) if n < 24 else bytes([0x58, n])


class Model:
    """What the log has reported durable: acks and appends that returned (each record as
    the log reads it back: a fix as its CBOR byte string)."""

    def __init__(self):
        self.acked = 0
        self.ack_inflight = 0
        self.top = 0
        self.last = None
        self.recs = {}
        self.fixes = set()  # seqs written as fix entries
        self.inflight = None

    def body(self, seq, rec):
        """The part of a record that names the one before it (a fix: after its head)."""
        if seq in self.fixes:
            return rec[1 if rec[0] < 0x58 else 2 :]
        return rec


def check(log, m):
    """Invariants after a reboot; returns an error text or None. Updates the model."""
    a, top = log.acked, m.top
    if a < m.acked:
        return "acked went back: %d < %d" % (a, m.acked)
    if a > max(m.acked, m.ack_inflight):
        return "acked %d was never requested" % a
    last = log.last_seq
    landed = m.inflight is not None and last == top + 1 and m.inflight[0] == top + 1
    if last != top and not landed:
        return "last_seq %d, durable up to %d" % (last, top)
    if landed and m.inflight[2]:
        m.fixes.add(last)
    expect_last = m.inflight[1] if landed else m.last
    if log.last_record != expect_last:
        return "last record differs at %d" % last
    got = log.read_from(a + 1, 1 << 30)
    if [s for s, _ in got] != list(range(a + 1, last + 1)):
        return "read %d records for %d..%d: %s" % (len(got), a + 1, last, [s for s, _ in got][:8])
    prev = None
    for s, rec in got:
        want = m.inflight[1] if (landed and s == last) else m.recs.get(s)
        if rec != want:
            return "record %d differs from what was reported durable" % s
        if prev is not None and m.body(s, rec)[5:13] != h8(prev):
            return "chain broken at %d" % s
        prev = rec
    if landed:
        m.recs[last] = m.inflight[1]
        m.top, m.last = last, m.inflight[1]
    m.inflight = None
    m.acked, m.ack_inflight = a, 0
    for s in list(m.recs):
        if s <= a:
            del m.recs[s]
    return None


def append(log, m, kind, boot, rng):
    seq = log.last_seq + 1
    if kind == b"F":  # a fix: n | body | CRC-16 of its wire item, as firmware/evidence.py
        body = make(kind, seq, m.last, boot, rng.next(40))
        rec = fix_head(len(body)) + body
        crc = crc16(rec)
        entry = bytes([len(body)]) + body + bytes([crc >> 8, crc & 0xFF])
        m.inflight = (seq, rec, True)
        log.append_fix(seq, entry)
        m.fixes.add(seq)
    else:
        rec = make(kind, seq, m.last, boot, 20 + rng.next(200))
        m.inflight = (seq, rec, False)
        m.fixes.discard(seq)  # a seq torn away before is used again
        log.append(seq, rec)
    m.inflight = None
    m.recs[seq] = rec
    m.top, m.last = seq, rec


def ack(log, m, upto):
    m.ack_inflight = min(upto, log.last_seq)
    Phase.now = "ack"
    log.ack(upto)
    # only a durable acknowledgement must survive (the log writes the mark lazily)
    m.acked, m.ack_inflight = log.acked_durable, 0
    for s in list(m.recs):
        if s <= m.acked:
            del m.recs[s]


def workload(log, m, boot, rng, ops):
    """Appends, acknowledgements (with long outages, so the budget fills) and reclaims."""
    was_full = log.full
    for i in range(ops):
        if i == OPS_MAX:
            return
        if (boot * 131 + i) % 400 < 250:
            outage = False
        else:
            outage = True
        r = rng.next(100)
        if r < 12 and not outage:
            lag = rng.next(8)
            ack(log, m, max(log.acked, log.last_seq - lag))
            continue
        Phase.now = "append"
        if r < 20:
            append(log, m, b"A", boot, rng)  # an alert: never thinned
        elif log.admit_routine():
            append(log, m, b"F", boot, rng)
        if log.full and not was_full:
            append(log, m, b"S", boot, rng)  # storage_full, as the tag raises it
        was_full = log.full


PHASES = {
    "a": None,
    "p": ("append",),
    "k": ("ack",),
    "r": ("reclaim",),
    "b": ("mount", "open", "restart"),
}


def boot_once(data, m, boot, cut, torn, rng, ops):
    """Mount, recover, check, log a restart record, work until the cut. Returns
    (phase of the cut or None, error or None)."""
    flash = Flash(data, int(cut[1:]), torn, PHASES[cut[0]]) if cut else Flash(data, 0, 0)
    fs = log = None
    try:
        Phase.now = "mount"
        fs = WatchFs(vfs.VfsLfs2(flash, mtime=False))
        Phase.now = "open"
        log = RecordLog(fs, max_bytes=BUDGET, segment_bytes=SEGMENT)
        err = check(log, m)
        if err:
            return None, err
        Phase.now = "restart"
        append(log, m, b"R", boot, rng)  # the restart record: the chain goes on after a gap
        if cut and cut[0] == "b":
            Phase.now = "idle"
            raise PowerCut()  # the boot made fewer writes than the cut point: cut between
        workload(log, m, boot, rng, ops)
    except PowerCut:
        # The dead incarnation's open files are closed by their finalisers when collected:
        # collect now, with the flash buried, before anything boots again.
        phase = Phase.now
        fs = log = None
        flash.bury()
        gc.enable()
        gc.collect()
        return phase, None
    return None, None


def main(seed, gaps, torns):
    data = bytearray(b"\xff" * (BLOCK_SIZE * BLOCK_COUNT))
    vfs.VfsLfs2.mkfs(Flash(data, 0, 0))
    m = Model()
    rng = Rng(seed)
    cut = None  # (number, phase, torn) of the cut the next boot recovers from
    for n in range(len(gaps) + 1):
        last = n == len(gaps)
        phase, err = boot_once(
            data,
            m,
            n,
            None if last else gaps[n],
            0 if last else torns[n],
            rng,
            50 if last else 1 << 30,
        )
        if cut is not None:
            # this boot's check was the verdict on the previous cut
            print("CUT %d phase=%s torn=%d %s" % (cut + (("FAIL " + err) if err else "ok",)))
        elif err:
            print("BOOT FAIL %s" % err)
        if err:
            return
        if last:
            break
        if phase is None:
            print("CUT %d FAIL the workload ended before the cut" % n)
            return
        cut = (n, phase, torns[n])
    print("DONE seq=%d acked=%d pending=%d" % (m.top, m.acked, m.top - m.acked))


if __name__ == "__main__":
    main(
        int(sys.argv[1]),
        sys.argv[2].split(","),
        [int(x) for x in sys.argv[3].split(",")],
    )
