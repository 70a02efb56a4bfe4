"""Uplink messages carried in frames (protocol/frame.py): CBOR arrays [type, body...].

Schema in protocol/uplink.cddl. Tag to host: HELLO, PROOF, RECORDS, ALERT, COMMAND_REPLY.
Host to tag: CHALLENGE, ACK, NACK, TIME, ALERT_ACK, COMMAND.
"""

from emtag.protocol import cbor

HELLO = (
    1  # [1, {0: device id (8 bytes), 1: public key (65 bytes SEC1), 2: fw version, 3: next seq}]
)
RECORDS = 2  # [2, [record (COSE_Sign1 bytes), ...]]
ACK = 3  # [3, seq]: every record up to and including seq is stored
NACK = 4  # [4, seq, reason]: record seq was refused (stored as rejected on the host)
TIME = 5  # [5, unix ms]: host time for the tag's clock
ALERT = 6  # [6, record]: an alert sent ahead of the backlog (it also comes in order later)
ALERT_ACK = 7  # [7, seq]: the early alert seq is stored
COMMAND = 8  # [8, request]: a signed command (protocol/console.cddl request) for the tag
COMMAND_REPLY = 9  # [9, reply]: the tag's answer (console.cddl reply; empty: not supported)
CHALLENGE = 10  # [10, nonce]: the answer to HELLO; the tag proves it holds its key
PROOF = 11  # [11, COSE_Sign1 over proof_payload(device id, nonce)], made with the tag's key

H_DEVICE = 0
H_PUBKEY = 1
H_FIRMWARE = 2
H_NEXT_SEQ = 3

PROOF_LABEL = "emtag uplink proof v1"
NONCE_MIN = 16  # bytes of a challenge nonce
NONCE_MAX = 32


def proof_payload(device_id, nonce):
    """What the tag signs to answer a CHALLENGE: CBOR [PROOF_LABEL, device id, nonce]. An array
    led by a label: never a record (a map) nor a console receipt (led by a counter)."""
    return cbor.dumps([PROOF_LABEL, bytes(device_id), bytes(nonce)])
