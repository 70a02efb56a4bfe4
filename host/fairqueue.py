"""Which connection the bridge serves next: start-time fair queuing over measured work.

Each connection with input waiting is queued with a start tag: the later of the queue's
virtual time (the tag of the one served last) and the finish tag of its own last service
(its start plus the seconds its input took). The lowest tag is served first. A peer that
keeps the bridge busy runs its finish tag ahead of everyone, so it waits behind peers that
cost little; a tag that uploads a block every few minutes arrives at the virtual time and
goes before every busy peer, whatever their number. Among equal tags, the first to arrive
is served first. Past work is forgiven beyond MAX_LAG_S: a tag that once uploaded a week's
backlog is not made to wait for it ever after.

    q = FairQueue()
    q.push(link)                    # link has input waiting (link.finish_tag: float)
    link = q.pop()                  # the next to serve, or None
    q.served(link, seconds)         # what its service cost
"""

import heapq
import itertools

# A link's start tag is at most this far ahead of the virtual time: it waits behind at most
# this much of other links' work for what it did before.
MAX_LAG_S = 0.1


class FairQueue:
    def __init__(self):
        self._heap = []  # (start tag, arrival, link)
        self._arrival = itertools.count()
        self.vtime = 0.0

    def __len__(self):
        return len(self._heap)

    def push(self, link):
        start = max(self.vtime, min(link.finish_tag, self.vtime + MAX_LAG_S))
        heapq.heappush(self._heap, (start, next(self._arrival), link))

    def pop(self):
        if not self._heap:
            return None
        start, _, link = heapq.heappop(self._heap)
        self.vtime = start
        link.start_tag = start
        return link

    def served(self, link, seconds):
        link.finish_tag = link.start_tag + seconds
