#!/usr/bin/env python3
"""Writes generated.jsonl: GS1 scans built from the AI families the floor reads, each in the ways a
scanner sends it (after a GS1 AIM identifier, bare with GS or FNC1 placeholders, bracketed, as a
Digital Link), valid and with one fault each, with the interpretation expected.

The expectations are computed here, independently of the Rust parser: check digits, the GS1
century rule (reference year 2026), end-of-month day 00, decimals, and where FNC1 separators go.
Deterministic: `python3 labels/tests/gs1/generate.py` rewrites the same file.
"""
import calendar
import json
import os
import random

REFERENCE_YEAR = 2026
rng = random.Random(20261203)
GS = "\x1d"
PREDEFINED = {"00": 20, "01": 16, "02": 16, "03": 16, "04": 18, "11": 8, "12": 8, "13": 8, "14": 8,
              "15": 8, "16": 8, "17": 8, "18": 8, "19": 8, "20": 4, "31": 10, "32": 10, "33": 10,
              "34": 10, "35": 10, "36": 10, "41": 16}
DAY00 = {"11", "12", "13", "15", "16", "17", "4324", "4325"}
LINK_KEYS = {"00": [], "01": ["22", "10", "21"], "402": [], "414": ["254"], "417": [], "8004": []}


def check_digit(body):
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def with_cd(body):
    return body + check_digit(body)


def digits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def year_of(yy):
    century = REFERENCE_YEAR // 100 * 100
    diff = yy - REFERENCE_YEAR % 100
    if diff >= 51:
        return century - 100 + yy
    if diff <= -50:
        return century + 100 + yy
    return century + yy


def random_date(day00=False):
    yy, mm = rng.randrange(100), rng.randrange(1, 13)
    last = calendar.monthrange(year_of(yy), mm)[1]
    dd = 0 if day00 and rng.random() < 0.3 else rng.randrange(1, last + 1)
    iso = f"{year_of(yy):04}-{mm:02}-{(dd or last):02}"
    return f"{yy:02}{mm:02}{dd:02}", iso


def decimal(value, n):
    if n == 0:
        return value.lstrip("0") or "0"
    int_part, frac = value[:-n], value[-n:]
    return f"{int_part.lstrip('0') or '0'}.{frac}"


LOT_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-./"


def lot(n=None):
    return "".join(rng.choice(LOT_CHARS) for _ in range(n or rng.randrange(1, 21)))


def gtin():
    return with_cd("0" + digits(12))


def sscc():
    return with_cd(str(rng.randrange(10)) + digits(16))


def gln():
    return with_cd(digits(12))


class Case:
    """One element string: its elements and what each means."""

    def __init__(self, family):
        self.family = family
        self.elements = []
        self.dates = {}
        self.decimals = {}

    def add(self, ai, value, date=None, dec=None):
        self.elements.append((ai, value))
        if date:
            self.dates[ai] = date
        if dec is not None:
            self.decimals[ai] = dec
        return self


def families():
    out = []
    # SSCC alone: a carton label.
    out.append(Case("00 SSCC").add("00", sscc()))
    # GTIN with lot, expiry, best before, production and packaging dates, serial.
    for ai in ["11", "13", "15", "16", "17"]:
        value, iso = random_date(day00=True)
        out.append(Case(f"01 + {ai} date + 10 lot").add("01", gtin()).add(ai, value, iso).add("10", lot()))
    c = Case("01 + 17 + 10 + 21").add("01", gtin())
    value, iso = random_date()
    out.append(c.add("17", value, iso).add("10", lot()).add("21", lot()))
    # Logistic unit: SSCC, content GTIN, count, lot and expiry.
    value, iso = random_date()
    c = Case("00 + 02 + 37 + 10 + 17").add("00", sscc()).add("02", gtin()).add("37", str(rng.randrange(1, 999)))
    out.append(c.add("10", lot()).add("17", value, iso))
    # Decimal AIs: trade measures with 01, logistic measures with 00.
    for fam in ["310", "311", "312", "313", "314", "315", "316", "320", "321", "322", "323", "324",
                "325", "326", "327", "328", "329", "350", "351", "352", "356", "357", "360", "361",
                "364", "365", "366"]:
        n = rng.randrange(6)
        value = digits(6)
        out.append(Case(f"01 + {fam}n").add("01", gtin()).add(fam + str(n), value, dec=decimal(value, n)))
    for fam in ["330", "331", "332", "333", "334", "335", "336", "340", "341", "342", "343", "344",
                "345", "346", "347", "348", "349", "353", "354", "355", "362", "363", "367", "368", "369"]:
        n = rng.randrange(6)
        value = digits(6)
        out.append(Case(f"00 + {fam}n").add("00", sscc()).add(fam + str(n), value, dec=decimal(value, n)))
    # Orders, consignments, shipments, locations.
    out.append(Case("400 order number").add("400", lot(rng.randrange(1, 31))))
    out.append(Case("401 GINC").add("401", "9520123" + lot(8)))
    out.append(Case("402 GSIN").add("402", with_cd(digits(16))))
    out.append(Case("00 + 403 routing").add("00", sscc()).add("403", lot(12)))
    for ai in ["410", "411", "412", "413", "414", "416", "417"]:
        out.append(Case(f"{ai} GLN").add(ai, gln()))
    out.append(Case("415 + 8020").add("415", gln()).add("8020", lot(10)))
    out.append(Case("00 + 420 postal code").add("00", sscc()).add("420", lot(rng.randrange(3, 10))))
    out.append(Case("00 + 421 postal code with country").add("00", sscc()).add("421", "276" + lot(5)))
    out.append(Case("01 + 422 origin").add("01", gtin()).add("422", "528"))
    # Date-times.
    for ai in ["4324", "4325"]:
        value, iso = random_date(day00=True)
        hh, mi = rng.randrange(24), rng.randrange(60)
        out.append(Case(f"00 + {ai} date-time").add("00", sscc()).add(ai, f"{value}{hh:02}{mi:02}", f"{iso}T{hh:02}:{mi:02}"))
    value, iso = random_date()
    hh, mi = rng.randrange(24), rng.randrange(60)
    out.append(Case("01 + 7003 expiry date-time").add("01", gtin()).add("7003", f"{value}{hh:02}{mi:02}", f"{iso}T{hh:02}:{mi:02}"))
    out.append(Case("8004 GIAI").add("8004", "9520123" + lot(10)))
    return out


def needs_gs(ai):
    return ai[:2] not in PREDEFINED


def transmitted(elements, sep=GS):
    out = ""
    for i, (ai, value) in enumerate(elements):
        out += ai + value
        if needs_gs(ai) and i + 1 < len(elements):
            out += sep
    return out


def bracketed(elements):
    return "".join(f"({ai}){value}" for ai, value in elements)


def pct(value):
    safe = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    return "".join(c if c in safe else f"%{ord(c):02X}" for c in value)


def digital_link(elements, base):
    key, value = elements[0]
    quals = LINK_KEYS[key]
    path = f"{base}/{key}/{pct(value)}"
    rest = elements[1:]
    for q in quals:
        for ai, v in rest:
            if ai == q:
                path += f"/{ai}/{pct(v)}"
    query = [f"{ai}={pct(v)}" for ai, v in rest if ai not in quals]
    return path + ("?" + "&".join(query) if query else "")


def expectation(case, form, order):
    gtin_ = next((v for a, v in order if a == "01"), None)
    sscc_ = next((v for a, v in order if a == "00"), None)
    content = None
    if any(a == "02" for a, _ in order):
        count = next((int(v) for a, v in order if a == "37"), None)
        content = {"gtin": next(v for a, v in order if a == "02"), "count": count}
    return {
        "status": "accepted", "kind": "gs1", "form": form, "gtin": gtin_, "sscc": sscc_,
        "content": content,
        "elements": [{"ai": a, "value": v} for a, v in order],
        "dates": case.dates, "decimals": case.decimals, "errors": [],
    }


def valid_cases(case):
    els = case.elements
    wire = transmitted(els)
    keyed = els[0][0] in {"00", "01", "02", "402", "410", "411", "412", "413", "414", "415", "416", "417"}
    out = [
        ("]C1" + wire + "\r", "aim"),
        ("]d2" + wire + "\r\n", "aim"),
        (GS + wire + "\t", "bare"),
        ("^" + transmitted(els, "^"), "bare"),
        ("  " + bracketed(els) + "\r\n", "bracketed"),
    ]
    if keyed:
        out.append((wire + "\x00\x00", "bare"))
    for form_in, form in out:
        yield {"note": f"{case.family}, {form}", "in": form_in, "expect": expectation(case, form, els)}
    if els[0][0] in LINK_KEYS and not any(a in LINK_KEYS for a, _ in els[1:]):
        key, quals = els[0][0], LINK_KEYS[els[0][0]]
        order = [els[0]] + [e for q in quals for e in els[1:] if e[0] == q] + [e for e in els[1:] if e[0] not in quals]
        for prefix, base in [("", "https://id.gs1.org"), ("]Q1", "https://example.com/products"), ("]d1", "HTTP://brand.example")]:
            yield {"note": f"{case.family}, Digital Link {prefix or 'without AIM'}",
                   "in": prefix + digital_link(els, base), "expect": expectation(case, "digital_link", order)}


def corrupt(case):
    """One fault per family, with the AI it must be blamed on and a part of the reason."""
    els = list(case.elements)
    for i, (ai, value) in enumerate(els):
        if ai in {"00", "01", "02", "402", "410", "411", "412", "413", "414", "415", "416", "417"}:
            bad = value[:-1] + str((int(value[-1]) + 1 + rng.randrange(9)) % 10)
            els[i] = (ai, bad)
            what = {"00": "SSCC", "01": "GTIN", "02": "GTIN", "402": "GSIN"}.get(ai, "GLN")
            return els, ai, f"{what} check digit should be {value[-1]}"
    for i, (ai, value) in enumerate(els):
        if ai in case.dates:
            els[i] = (ai, value[:2] + "13" + value[4:])
            return els, ai, "month 13 is not a month"
    return None


def invalid_cases(case):
    fault = corrupt(case)
    if not fault:
        return
    els, ai, reason = fault
    wire = transmitted(els)
    for form_in, form in [("]C1" + wire, "aim"), (GS + wire, "bare"), (bracketed(els), "bracketed")]:
        yield {"note": f"{case.family}, {form}, fault in AI {ai}", "in": form_in,
               "expect": {"status": "invalid", "kind": "gs1", "form": form}, "reasons": [[ai, reason]]}


def main():
    lines = ["# Generated by generate.py: do not edit by hand."]
    for case in families():
        for c in valid_cases(case):
            lines.append(json.dumps(c, ensure_ascii=True))
        for c in invalid_cases(case):
            lines.append(json.dumps(c, ensure_ascii=True))
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "generated.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines) - 1} cases")


if __name__ == "__main__":
    main()
