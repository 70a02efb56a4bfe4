"""host/fairqueue.py: the order in which the bridge serves connections with input."""

from emtag.host.fairqueue import MAX_LAG_S, FairQueue


class Link:
    def __init__(self, name):
        self.name = name
        self.start_tag = self.finish_tag = 0.0


def serve(q, cost):
    """Pop the next link and charge it `cost` seconds: its name."""
    link = q.pop()
    q.served(link, cost)
    return link.name


def test_a_quiet_link_goes_before_busy_ones_however_many():
    q = FairQueue()
    busy = [Link("busy%d" % i) for i in range(50)]
    for _ in range(3):  # every busy link has cost 25 ms a round, three rounds
        for b in busy:
            q.push(b)
        while len(q):
            serve(q, 0.025)
    for b in busy:  # all of them waiting again, and then the tag's block arrives
        q.push(b)
    tag = Link("tag")
    q.push(tag)
    assert serve(q, 0.001) == "tag"
    q.push(tag)  # its next message, while all fifty still wait
    assert serve(q, 0.001) == "tag"


def test_busy_links_share_by_what_they_cost():
    q = FairQueue()
    cost = {"heavy": 0.010, "light": 0.001}
    links = {name: Link(name) for name in cost}
    for link in links.values():
        q.push(link)
    order = []
    for _ in range(44):  # both always have more input: pushed again once served
        link = q.pop()
        q.served(link, cost[link.name])
        q.push(link)
        order.append(link.name)
    # equal shares of time: the light one served about ten times as often
    assert 8 <= order.count("light") / order.count("heavy") <= 12


def test_equal_tags_are_served_in_arrival_order():
    q = FairQueue()
    links = [Link(str(i)) for i in range(5)]
    for link in links:
        q.push(link)
    assert [serve(q, 0.0) for _ in links] == ["0", "1", "2", "3", "4"]
    assert q.pop() is None


def test_past_work_is_forgiven_beyond_a_bound():
    """A tag that once uploaded a long backlog is not made to wait for it ever after."""
    q = FairQueue()
    tag, other = Link("tag"), Link("other")
    q.push(tag)
    serve(q, 30.0)  # thirty seconds of work, once
    q.push(other)
    serve(q, 0.001)
    q.push(tag)
    q.push(other)
    assert tag.finish_tag > q.vtime + MAX_LAG_S
    # it waits behind others at most MAX_LAG_S of their work, not thirty seconds of it
    served = []
    while True:
        name = serve(q, 0.01)
        served.append(name)
        if name == "tag":
            break
        q.push(other)
    assert served.count("other") <= MAX_LAG_S / 0.01 + 1
