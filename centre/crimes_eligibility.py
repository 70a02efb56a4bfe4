"""Which wearers crime mapping may look at: a flag per tag, set with a reason (at fitting
or in the centre) and cleared the same way, every change kept in the store. A wearer is
eligible while the latest change set the flag, its `until` has not passed and it was set
no longer ago than the policy's flag_max_age_days (so each flag is reviewed)."""

import re

SOURCES = ("centre", "fitting")
DEVICE_RE = re.compile(r"^[0-9a-f]{16}$")


class EligibilityError(ValueError):
    pass


def check_device(device):
    d = device.strip().lower()
    if not DEVICE_RE.match(d):
        raise EligibilityError("device id %r: 16 hex digits expected" % device)
    return d


def set_flag(store, device, reason, by, now, until=None, source="centre", clear=False):
    device = check_device(device)
    if not reason or not reason.strip():
        raise EligibilityError("a reason is required")
    if not by or not by.strip():
        raise EligibilityError("the operator (--by) is required")
    if source not in SOURCES:
        raise EligibilityError("source: one of %s" % ", ".join(SOURCES))
    if until is not None and until <= now and not clear:
        raise EligibilityError("--until is not in the future")
    store.crime_flag_set(device, not clear, reason.strip(), by.strip(), int(now), until, source)
    return device


def status(flag, now, max_age_s):
    """None if this latest flag change makes the wearer eligible now, else why not."""
    if not flag["eligible"]:
        return "flag cleared"
    if flag["until"] is not None and flag["until"] <= now:
        return "flag lapsed"
    if now - flag["set_at"] > max_age_s:
        return "flag older than the policy allows"
    return None


def eligible(store, devices, now, max_age_s):
    """({device: flag} eligible now, {reason: count} of the others among `devices` and the
    flagged)."""
    flags = {f["device"]: f for f in store.crime_flags()}
    ok, refused = {}, {}
    for d in sorted(set(devices) | set(flags)):
        f = flags.get(d)
        why = "not flagged" if f is None else status(f, now, max_age_s)
        if why is None:
            ok[d] = f
        else:
            refused[why] = refused.get(why, 0) + 1
    return ok, refused
