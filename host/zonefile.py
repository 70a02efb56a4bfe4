"""Zones from GeoJSON (walking-skeleton version: circles only) and the tag's zone table.

A circle is a Point feature with properties `id`, `kind` (`exclusion` or `inclusion`) and
`radius_m`. The table the tag loads is CBOR: [[id, kind, lat e7, lon e7, radius cm], ...]
with kind 0 = exclusion, 1 = inclusion (schema in protocol/emtag.cddl).
"""

import json

import cbor2

KINDS = {"exclusion": 0, "inclusion": 1}
MAX_ZONES = 64


class ZoneFileError(ValueError):
    pass


def load(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise ZoneFileError("cannot read zones %s: %s" % (path, e)) from None
    features = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
    if not isinstance(features, list) or not features:
        raise ZoneFileError("%s: no zone features" % path)
    if len(features) > MAX_ZONES:
        raise ZoneFileError("%s: %d zones, at most %d" % (path, len(features), MAX_ZONES))
    zones, seen = [], set()
    for i, feat in enumerate(features):
        props = feat.get("properties") or {}
        zid = props.get("id")
        name = "zone %r" % zid if zid else "feature %d" % i
        if not isinstance(zid, str) or not zid or len(zid) > 32:
            raise ZoneFileError("%s: %s needs an id of 1-32 characters" % (path, name))
        if zid in seen:
            raise ZoneFileError("%s: duplicate zone id %r" % (path, zid))
        seen.add(zid)
        if props.get("kind") not in KINDS:
            raise ZoneFileError("%s: %s: kind must be exclusion or inclusion" % (path, name))
        geom = feat.get("geometry") or {}
        if geom.get("type") != "Point":
            raise ZoneFileError(
                "%s: %s: only circles (Point with radius_m) are supported yet" % (path, name)
            )
        lon, lat = geom["coordinates"][:2]
        r = props.get("radius_m")
        if not isinstance(r, (int, float)) or not 1 <= r <= 100000:
            raise ZoneFileError("%s: %s: radius_m must be 1..100000" % (path, name))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ZoneFileError("%s: %s: coordinates out of range" % (path, name))
        zones.append(
            {"id": zid, "kind": props["kind"], "lat": lat, "lon": lon, "radius_m": float(r)}
        )
    return zones


def compile_table(zones):
    rows = [
        [
            z["id"],
            KINDS[z["kind"]],
            round(z["lat"] * 1e7),
            round(z["lon"] * 1e7),
            round(z["radius_m"] * 100),
        ]
        for z in zones
    ]
    return cbor2.dumps(rows, canonical=True)
