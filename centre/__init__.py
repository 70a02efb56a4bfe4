"""The monitoring centre behind the bridges: questions asked of the store (where was the
wearer at T, stay points, frequent places, curfew minutes, gaps, heatmaps) and the weekly
overview for a probation officer. Reads the store only through its interface
(emtag.host.store); imports host, protocol and firmware, never the simulator."""
