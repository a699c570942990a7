"""Peer measurements for the labels benchmark: the Python `biip` GS1 parser on the same scans
and the Python `zpl` generator building a comparable 4x6 shipping label. Prints one JSON object.
"""
import json
import sys
import time

import biip
import zpl

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
# Same payloads as benches/throughput.rs, without the AIM prefix (biip reads the symbology
# identifier too, so it is kept).
SCANS = [
    "]C100106141411234567897",
    "]C1010950110153000310ABC123\x1d17270331",
    "]d2011231231231233310ABC123\x1d99TESTING",
    "]C10109501101530003172703003103001234",
    "]C1420941050\x1d00106141411234567897",
]


def measure(fn):
    for _ in range(200):
        fn()
    ops = 0
    start = time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        for _ in range(200):
            fn()
        ops += 200
    return ops / (time.perf_counter() - start)


i = 0


def parse_one():
    global i
    r = biip.parse(SCANS[i % len(SCANS)])
    i += 1
    assert r.gs1_message is not None


def label_one():
    l = zpl.Label(152.4, 101.6, 8)
    for y, text in [(3, "FROM"), (6, "Fulfilment Centre East"), (9, "12 Dock Road"), (12, "Newark, NJ 07114")]:
        l.origin(4, y)
        l.write_text(text, char_height=3, char_width=3)
        l.endorigin()
    l.origin(58, 3)
    l.write_text("UPS", char_height=5, char_width=5)
    l.endorigin()
    for y, text in [(30, "SHIP TO"), (34, "Zoe O'Brien-Muller"), (39, "500 Market St"), (44, "San Francisco, CA 94105")]:
        l.origin(4, y)
        l.write_text(text, char_height=4, char_width=4)
        l.endorigin()
    l.origin(4, 62)
    l.barcode("C", ">;>842094105", height=110, print_interpretation_line="N")
    l.endorigin()
    l.origin(66, 62)
    l.write_text("2.35 kg", char_height=5, char_width=5)
    l.endorigin()
    l.origin(4, 87)
    l.barcode("C", "1Z999AA10123456784", height=140, print_interpretation_line="N")
    l.endorigin()
    l.origin(4, 115)
    l.barcode("C", ">;>800106141411234567897", height=170, print_interpretation_line="N")
    l.endorigin()
    l.origin(4, 143)
    l.write_text("Order SO-1001", char_height=4, char_width=4)
    l.endorigin()
    return l.dumpZPL()


print(json.dumps({"biip_parses_per_sec": round(measure(parse_one)), "python_zpl_labels_per_sec": round(measure(label_one))}))
