"""Who may see which tag: an admin every tag, an officer the tags assigned to them. A refusal
is a 403 with an audit line; an unknown device a 404 (also audited: someone asked)."""

from emtag.centre.web.http import HttpError
from emtag.host.store import StoreError


def visible_devices(st, session):
    """None (every tag) for an admin, else the set of the officer's tags."""
    if session.role == "admin":
        return None
    return {d for _, d in st.assignments(session.user)}


def require_device(app, req, st, text, action):
    """The full device id the user asked for (id or unique prefix) if they may see it."""
    try:
        device = st.resolve_device(text)
    except StoreError as e:
        app.audit(req, "not_found", None, "%s: %s" % (action, text[:80]))
        why = "ambiguous prefix" if "ambiguous" in str(e) else "no such tag in the store"
        raise HttpError(404, "unknown device %r: %s" % (text[:80], why)) from None
    allowed = visible_devices(st, req.session)
    if allowed is not None and device not in allowed:
        app.audit(req, "denied", device, "%s: not assigned to %s" % (action, req.session.user))
        raise HttpError(403, "tag %s is not assigned to you" % device)
    return device
