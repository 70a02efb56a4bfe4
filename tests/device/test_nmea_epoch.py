# Sentences of one epoch combine into one Fix. Expected values are worked out by hand in
# the comments (day numbers from CPython's datetime, written down once).
# Some sentences quote gpsd's regression captures (BSD-2-Clause, Copyright the GPSD project;
# terms in ../shared/corpus/gpsd/COPYING).
from emtag.firmware.gnss_fix import BEIDOU, GALILEO, GLONASS, GPS, NAVIC, QZSS
from emtag.firmware.gnss_time import NOT_BEFORE_DAYS
from emtag.firmware.nmea import NmeaParser

D2015_03_18 = 16512  # days since 1970
D2010 = 14610  # 2010-01-01
D2019 = 17897  # 2019-01-01


def nmea(body):
    x = 0
    for c in body:
        x ^= ord(c)
    return ("$%s*%02X\r\n" % (body, x)).encode()


def decode(lines, not_before=D2010, **kw):
    fixes = []
    p = NmeaParser(lambda f: fixes.append(f.copy()), not_before=not_before, **kw)
    for line in lines:
        p.feed(nmea(line))
    p.flush()
    return fixes, p


EPOCH = [
    "GNRMC,171926.00,A,4404.14063,N,12118.85478,W,0.117,231.5,180315,,,A",
    "GNVTG,231.5,T,,M,0.117,N,0.216,K,A",
    "GNGGA,171926.00,4404.14063,N,12118.85478,W,1,12,0.91,1147.2,M,-21.3,M,,",
    "GNGSA,A,3,01,11,31,14,22,32,04,25,03,,,,1.56,0.91,1.27",
    "GNGSA,A,3,67,83,76,82,68,,,,,,,,1.56,0.91,1.27",
    "GPGSV,2,1,05,01,53,280,36,03,29,301,24,04,55,223,37,08,38,166,",
    "GPGSV,2,2,05,11,40,245,00",
    "GLGSV,1,1,02,67,62,349,26,83,27,309,29",
    "GNGLL,4404.14063,N,12118.85478,W,171926.00,A,A",
]


def test_one_epoch_one_fix():
    fixes, p = decode(EPOCH)
    assert p.good == len(EPOCH) and len(fixes) == 1
    f = fixes[0]
    assert f.t == D2015_03_18 * 86400 + 17 * 3600 + 19 * 60 + 26 and f.t_ms == 0
    assert (f.lat, f.lon) == (440690105, -1213142463)
    assert f.fix == 3
    assert f.sats == 14  # 9 GPS + 5 GLONASS from the two GSAs
    assert (f.hdop, f.pdop, f.vdop) == (91, 156, 127)
    assert f.alt_cm == 114720
    assert f.speed_mmps == 60  # 0.117 kn * 1852 / 3600 = 0.06019 m/s
    assert f.course_cdeg == 23150
    assert f.acc_cm == 910  # no GST: 2 * HDOP 0.91 * UERE 5 m
    assert f.cn0_mask == (1 << GPS) | (1 << GLONASS)
    # GPS: 5 in view; 08 has no C/N0 and 11 reports 00 (Garmin's "not tracked")
    assert (f.sv_view[GPS], f.sv_cn0[GPS], f.cn0_max[GPS], f.cn0_mean[GPS]) == (5, 3, 37, 32)
    assert (f.sv_view[GLONASS], f.sv_cn0[GLONASS], f.cn0_max[GLONASS]) == (2, 2, 29)
    assert f.cn0_mean[GLONASS] == 28  # 27.5 rounds up
    assert (f.sv_used[GPS], f.sv_used[GLONASS]) == (9, 5)


def test_time_change_closes_the_epoch():
    nxt = "GNRMC,171927.00,A,4404.14058,N,12118.85475,W,0.084,,180315,,,A"
    fixes, _ = decode(EPOCH + [nxt])
    assert len(fixes) == 2
    assert fixes[1].t == fixes[0].t + 1
    assert fixes[1].lat == 440690097  # 44 + 4.14058 / 60 = 44.06900967
    assert fixes[1].course_cdeg is None and fixes[1].sats is None
    assert fixes[1].cn0_mask == 0  # no GSV this epoch: unknown, not zero


def test_satellites_listed_twice_count_once():
    gsa = "GNGSA,A,3,27,08,07,,,,,,,,,,2.5,1.7,1.8,1"
    fixes, _ = decode([EPOCH[0], gsa, gsa, "GNGSA,A,3,27,09,,,,,,,,,,,2.5,1.7,1.8,1"])
    assert fixes[0].sats == 4 and fixes[0].sv_used[GPS] == 4


def test_system_id_separates_equal_prns():
    fixes, _ = decode(
        [
            EPOCH[0],
            "GNGSA,A,3,01,03,,,,,,,,,,,1.6,0.9,1.3,1",
            "GNGSA,A,3,01,03,05,,,,,,,,,,1.6,0.9,1.3,3",  # Galileo E01, E03, E05
            "GNGSA,A,3,,,,,,,,,,,,,1.6,0.9,1.3,5",
        ]
    )
    f = fixes[0]
    assert f.sats == 5 and f.sv_used[GPS] == 2 and f.sv_used[GALILEO] == 3


def test_hdop_from_gga_and_accuracy_from_gst():
    fixes, _ = decode(["GPGGA,120000.00,5000.0000,N,00500.0000,E,1,08,1.3,10.0,M,,M,,"])
    assert fixes[0].hdop == 130 and fixes[0].acc_cm == 1300 and fixes[0].pdop is None
    fixes, _ = decode(
        [
            "GNGGA,135806.000,4723.00484,N,00045.88150,E,1,13,1.7,063.64,M,48.3,M,,",
            "GNGST,135806.000,6.1,4.0,4.0,61.0,4.6,4.4,4.8",
        ]
    )
    assert fixes[0].acc_cm == 1273  # 2 * sqrt(4.6^2 + 4.4^2) m = 12.731 m
    fixes, _ = decode(
        [
            "GNGGA,135806.000,4723.00484,N,00045.88150,E,1,13,1.7,063.64,M,48.3,M,,",
            "GNGST,135806.000,6.1,3.0,4.0,61.0,,,",
        ]
    )
    assert fixes[0].acc_cm == 1000  # no lat/lon sigmas: 2 * sqrt(3^2 + 4^2) m


def test_receiver_without_fix():
    fixes, p = decode(
        [
            "GPRMC,235947.004,V,8960.000000,N,00000.000000,E,0.000,0.00,050115,,,N",
            "GPVTG,0.00,T,,M,0.000,N,0.000,K,N",
            "GPGGA,235947.004,8960.000000,N,00000.000000,E,0,0,,137.000,M,13.000,M,,",
            "GPGSA,A,1,,,,,,,,,,,,,,,",
            "GPGSV,1,1,02,12,40,070,22,14,10,300,",
        ]
    )
    f = fixes[0]
    assert p.good == 5
    assert f.fix == 0 and f.lat is None and f.lon is None and f.alt_cm is None
    assert f.speed_mmps is None and f.course_cdeg is None and f.acc_cm is None
    assert f.sats == 0 and f.hdop is None
    assert f.t is not None and f.t_ms == 4  # the receiver knows the time
    assert (f.sv_view[GPS], f.sv_cn0[GPS], f.cn0_max[GPS]) == (2, 1, 22)


def test_empty_fields_everywhere():
    fixes, p = decode(
        ["GPRMC,,V,,,,,,,,,,N", "GPGGA,,,,,,0,,,,,,,,", "GPGSV,1,1,00", "GPVTG,,,,,,,,,N"]
    )
    assert p.good == 4 and len(fixes) == 1
    f = fixes[0]
    assert f.t is None and f.fix == 0 and f.lat is None and f.sats is None
    assert f.cn0_mask == 1 << GPS and f.sv_view[GPS] == 0  # GSV says: nothing in view


def test_only_measured_positions_count():
    base = "4808.9978,N,01135.0800,E"
    invalid = [
        "GPRMC,120000,A,%s,1.0,90.0,010120,,,N" % base,  # mode N
        "GPRMC,120000,A,%s,1.0,90.0,010120,,,E" % base,  # dead reckoning
        "GPRMC,120000,V,%s,1.0,90.0,010120,,,A" % base,
        "GPRMC,120000,A,%s,1.0,90.0,010120,,,S" % base,  # simulator (GPSmap-76S.log)
        "GPGGA,120000,%s,0,05,2.1,14.7,M,1.1,M,," % base,
        "GPGGA,120000,%s,6,05,2.1,14.7,M,1.1,M,," % base,  # dead reckoning
        "GPGGA,120000,%s,8,05,2.1,14.7,M,1.1,M,," % base,  # simulator
        "GPGLL,%s,120000,V,N" % base,
        "GPGLL,%s,120000,A,N" % base,
        "GNGNS,120000,%s,NN,05,2.1,14.7,1.1,," % base,
    ]
    for line in invalid:
        fixes, p = decode([line])
        assert p.good == 1 and fixes[0].fix == 0 and fixes[0].lat is None, line
        assert fixes[0].speed_mmps is None, line
    valid = [
        ("GPRMC,120000,A,%s,1.0,90.0,010120,,,D" % base, 2),
        ("GPRMC,120000,A,%s,1.0,90.0,010120" % base, 2),  # NMEA 2.0: no mode field
        ("GPGGA,120000,%s,2,05,2.1,14.7,M,1.1,M,," % base, 3),  # altitude: 3D
        ("GPGGA,120000,%s,4,05,2.1,,M,,M,," % base, 2),
        ("GPGLL,%s,120000,A,A" % base, 2),
        ("GPGLL,%s,120000,A" % base, 2),  # NMEA 2.0
        ("GNGNS,120000,%s,NA,05,2.1,14.7,1.1,," % base, 3),  # Galileo alone has a fix
    ]
    for line, fix in valid:
        fixes, _ = decode([line])
        assert fixes[0].lat == 481499633 and fixes[0].lon == 115846667, line
        assert fixes[0].fix == fix, line


def test_gsa_decides_2d_and_3d():
    rmc = "GPRMC,120000,A,4808.9978,N,01135.0800,E,1.0,90.0,010120,,,A"
    assert decode([rmc, "GPGSA,A,2,01,02,03,,,,,,,,,,2.0,1.0,1.7"])[0][0].fix == 2
    assert decode([rmc, "GPGSA,A,3,01,02,03,04,,,,,,,,,2.0,1.0,1.7"])[0][0].fix == 3
    # BeiDou without a fix, GPS with one (beidou-bd.log): the best wins
    fixes, _ = decode(
        [rmc, "BDGSA,A,1,,,,,,,,,,,,,,,,", "GPGSA,A,3,25,32,14,12,,,,,,,,,2.1,1.1,1.8"]
    )
    assert fixes[0].fix == 3 and fixes[0].sats == 4


def test_date_carried_to_epochs_without_one():
    fixes, _ = decode(
        [
            "GPRMC,235959.00,A,4808.9978,N,01135.0800,E,1.0,90.0,311219,,,A",
            "GPGGA,000000.00,4808.9978,N,01135.0800,E,1,05,2.1,14.7,M,1.1,M,,",  # next day
            "GPGGA,000001.00,4808.9978,N,01135.0800,E,1,05,2.1,14.7,M,1.1,M,,",
            "GPGGA,020001.00,4808.9978,N,01135.0800,E,1,05,2.1,14.7,M,1.1,M,,",  # 2 h gap
        ]
    )
    d2020 = 18262  # 2020-01-01
    assert fixes[0].t == d2020 * 86400 - 1
    assert fixes[1].t == d2020 * 86400
    assert fixes[2].t == d2020 * 86400 + 1
    assert fixes[3].t is None and fixes[3].lat is not None  # too long to trust the carry


def test_no_date_yet():
    fixes, _ = decode(["GPGGA,000001.50,4808.9978,N,01135.0800,E,1,05,2.1,14.7,M,1.1,M,,"])
    assert fixes[0].t is None and fixes[0].t_ms is None and fixes[0].fix == 3


def test_zda_date_and_four_digit_year():
    fixes, _ = decode(
        [
            "GPZDA,051134.000,04,07,2012,,",
            "GPGGA,051134.000,4744.6980,N,12206.7275,W,1,05,1.9,135.4,M,-17.1,M,18.8,0000",
        ]
    )
    assert fixes[0].t == 15525 * 86400 + 5 * 3600 + 11 * 60 + 34  # 2012-07-04
    fixes, _ = decode(["GPZDA,051134.000,31,02,2012,,"])  # no such day
    assert fixes[0].t is None


def test_week_rollover():
    rmc = "GPRMC,235724.02,A,4808.9978,N,01135.0800,E,000.0,000.0,%s,003.0,E,A"
    # gp-320fw-2019-04-06-overflow.log: a right date just before the 2019 rollover stays
    fixes, _ = decode([rmc % "060419"], not_before=D2010)
    assert fixes[0].t == 17992 * 86400 + 86244 and fixes[0].t_ms == 20
    # a receiver that rolled over on 2019-04-07 says 1999-08-22
    fixes, _ = decode([rmc % "220899"], not_before=D2019)
    assert fixes[0].t == 17993 * 86400 + 86244
    # the tag's default: nothing before 2025; a rolled-over receiver today says 2005
    assert NOT_BEFORE_DAYS == 20089
    fixes, _ = decode([rmc % "100805"], not_before=NOT_BEFORE_DAYS)
    assert fixes[0].t == 20173 * 86400 + 86244  # 2005-08-10 + 1024 weeks = 2025-03-26
    # a power-on default (1980) is not a date even after one rollover
    fixes, _ = decode([rmc % "060180"], not_before=D2010)
    assert fixes[0].t is None and fixes[0].lat is not None
    fixes, _ = decode(["GPZDA,235727.02,06,04,2019,,"], not_before=NOT_BEFORE_DAYS)
    assert fixes[0].t == 25160 * 86400 + 86247  # 2038-11-20: after 2025, 2019 is a rollover


def test_signals_of_nmea_411_count_once():
    fixes, _ = decode(
        [
            EPOCH[0],
            "GPGSV,1,1,02,01,53,280,36,03,29,301,24,1",  # L1 C/A
            "GPGSV,1,1,02,01,53,280,40,03,29,301,30,8",  # L5: same satellites
            "GAGSV,1,1,01,24,68,279,37,7",
            "GAGSV,1,1,01,24,68,279,39,2",
        ]
    )
    f = fixes[0]
    assert (f.sv_view[GPS], f.sv_cn0[GPS], f.cn0_max[GPS]) == (2, 2, 36)
    assert (f.sv_view[GALILEO], f.cn0_max[GALILEO]) == (1, 37)


def test_talkers_map_to_constellations():
    fixes, p = decode(
        [
            EPOCH[0],
            "GBGSV,1,1,01,12,81,342,22",
            "BDGSV,1,1,01,13,81,342,25",
            "GQGSV,1,1,01,02,81,342,31",
            "GIGSV,1,1,01,04,81,342,33",
            "GLGSV,1,1,01,70,81,342,35",
            "GNGSV,1,1,03,05,10,100,40,70,20,200,41,203,30,300,42",  # mixed: by PRN
        ]
    )
    f = fixes[0]
    assert p.good == 7
    assert (f.sv_view[BEIDOU], f.cn0_max[BEIDOU]) == (3, 42)  # GB, BD and GN PRN 203
    assert (f.sv_view[QZSS], f.cn0_max[QZSS]) == (1, 31)
    assert (f.sv_view[NAVIC], f.cn0_max[NAVIC]) == (1, 33)
    assert (f.sv_view[GLONASS], f.cn0_max[GLONASS]) == (2, 41)
    assert (f.sv_view[GPS], f.cn0_max[GPS]) == (1, 40)


def test_speed_and_course_from_vtg():
    fixes, _ = decode(
        [
            "GPGGA,120000,5000.0000,N,00500.0000,E,1,08,1.3,10.0,M,,M,,",
            "GPVTG,360.00,T,,M,,N,36.0,K,A",
        ]
    )
    assert fixes[0].speed_mmps == 10000 and fixes[0].course_cdeg == 0
    fixes, _ = decode(
        [
            "GPGGA,120000,5000.0000,N,00500.0000,E,1,08,1.3,10.0,M,,M,,",
            "GPVTG,054.7,034.4,005.5,010.2",
        ]
    )  # NMEA 1.5, no unit letters
    assert fixes[0].speed_mmps == 2829 and fixes[0].course_cdeg == 5470  # 5.5 kn
    fixes, _ = decode(
        [
            "GPGGA,120000,5000.0000,N,00500.0000,E,1,08,1.3,10.0,M,,M,,",
            "GPVTG,054.7,T,,M,5.5,N,10.2,K,N",
        ]
    )  # mode N: not valid
    assert fixes[0].speed_mmps is None


def test_untimed_sentences_join_the_next_timed_one_and_flush():
    fixes = []
    p = NmeaParser(lambda f: fixes.append(f.copy()), not_before=D2010)
    p.feed(nmea("GPGSA,A,3,01,02,03,,,,,,,,,,2.0,1.0,1.7"))
    p.feed(nmea("GPRMC,120000,A,4808.9978,N,01135.0800,E,1.0,90.0,010120,,,A"))
    p.flush()
    p.flush()
    assert len(fixes) == 1 and fixes[0].sats == 3
    p.feed(nmea("GPGSV,1,1,01,12,81,342,22"))
    p.flush()  # the board saw the UART go idle: a fix without time or position
    assert len(fixes) == 2 and fixes[1].t is None and fixes[1].cn0_max[GPS] == 22


def test_fields_beyond_the_standard_are_ignored():
    fixes, p = decode(
        [
            "GNRMC,135806.000,A,4723.00484,N,00045.88150,E,0.5,120.9,210325,,,A,C,extra,1",
            "GNGGA,074156.799,3114.8950,N,12135.2442,E,1,07,1.1,190.7,M,8.3,M,,0000,1.8",
        ],
        not_before=D2010,
    )
    assert p.good == 2 and len(fixes) == 2
    assert fixes[0].lat == 473834140 and fixes[0].speed_mmps == 257
    assert fixes[1].alt_cm == 19070


def test_hostile_streams_stay_bounded():
    storm = [EPOCH[0]]
    for k in range(1, 600, 12):  # 599 distinct GPS PRNs in use "in one epoch"
        prns = ",".join(str(p) for p in range(k, k + 12))
        storm.append("GNGSA,A,3,%s,1.0,1.0,1.0,1" % prns)
    fixes, p = decode(storm)
    assert p.good == len(storm)
    assert fixes[0].sv_used[GPS] == 255 and fixes[0].sats == 255  # counts are bytes
    digits = "1234567890123456789012345.5"
    fixes, p = decode(["GPGGA,120000,5000.0000,N,00500.0000,E,1,08,1.3,%s,M,,M,," % digits])
    assert fixes[0].alt_cm is None and fixes[0].fix == 2 and fixes[0].lat == 500000000


def test_gsv_without_timed_sentences_stays_bounded():
    # a receiver that only lists satellites: the epoch grows until flush; 4 tracked
    # satellites per sentence pass the 255 a byte can count after 64 sentences
    gsv = "GPGSV,3,1,12,07,10,333,39,08,12,279,35,10,16,158,33,16,74,249,37"
    fixes, p = decode([gsv] * 70)
    assert p.good == 70 and len(fixes) == 1
    assert fixes[0].sv_cn0[GPS] == 252 and fixes[0].cn0_max[GPS] == 39
    assert fixes[0].cn0_mean[GPS] == 36  # (39 + 35 + 33 + 37) / 4, rounded
