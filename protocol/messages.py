"""Uplink messages carried in frames (protocol/frame.py): CBOR arrays [type, body...].

Schema in protocol/emtag.cddl. Tag to host: HELLO, RECORDS. Host to tag: ACK, NACK, TIME.
"""

HELLO = (
    1  # [1, {0: device id (8 bytes), 1: public key (65 bytes SEC1), 2: fw version, 3: next seq}]
)
RECORDS = 2  # [2, [record (COSE_Sign1 bytes), ...]]
ACK = 3  # [3, seq]: every record up to and including seq is stored
NACK = 4  # [4, seq, reason]: record seq was refused (stored as rejected on the host)
TIME = 5  # [5, unix ms]: host time for the tag's clock

H_DEVICE = 0
H_PUBKEY = 1
H_FIRMWARE = 2
H_NEXT_SEQ = 3
