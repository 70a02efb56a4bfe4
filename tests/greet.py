"""A tag's side of the bridge's handshake for session tests: HELLO, then the PROOF of the
tag's key for the bridge's CHALLENGE (protocol/uplink.cddl), as firmware/uplink.py does."""

import cbor2

from emtag.firmware import uplink
from emtag.protocol import frame
from emtag.protocol import messages as m


def hello_body(signer, firmware="t"):
    return {m.H_DEVICE: signer.key_id(), m.H_PUBKEY: signer.public_key(), m.H_FIRMWARE: firmware}


def send(session, msg):
    out = session.receive(frame.encode(cbor2.dumps(msg)))
    return [cbor2.loads(bytes(x)) for x in frame.Deframer().feed(out)]


def greet(session, signer, body=None):
    """The replies that end the handshake: [[ACK, stored seq]] when the bridge takes the tag,
    its refusal otherwise."""
    out = send(session, [m.HELLO, body or hello_body(signer)])
    if out and out[0][0] == m.CHALLENGE:
        return send(session, [m.PROOF, uplink.prover(signer)(out[0][1])])
    return out
