//! The table of GS1 Application Identifiers (GS1 General Specifications, section 3): for each AI
//! its value layout (character set, lengths, check digit, date/decimal meaning). Parsing and
//! building both read this one table, so an element built here always parses back.

use std::sync::OnceLock;

/// Character set of one component of an AI value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Digits only.
    Numeric,
    /// GS1 AI encodable character set 82 (letters, digits and `!"%&'()*+,-./:;<=>?_`).
    Cset82,
    /// GS1 character set 39 (upper-case letters, digits, `#-/`), used by component/part ids.
    Cset39,
    /// The URI-safe base64 set (digital signatures).
    Cset64,
}

/// Extra meaning of one component, checked after the character set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lint {
    None,
    /// Last digit is a GS1 mod-10 check digit (GTIN, SSCC, GLN, …).
    CheckDigit(&'static str),
    /// YYMMDD; `day00` allows day 00 meaning "last day of the month".
    Date {
        day00: bool,
    },
    /// YYMMDDhhmm; `day00` as for [`Lint::Date`].
    DateTime {
        day00: bool,
    },
    /// hh or hhmm or hhmmss (optional time after a date).
    Time,
    /// YYYYMMDD.
    FullDate,
    /// ISO 3166 numeric country or ISO 4217 numeric currency (three digits).
    Iso3,
    /// Exactly digit 0 or 1 (yes/no flags).
    Flag,
}

/// One component of an AI value.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub charset: Charset,
    pub min: u8,
    pub max: u8,
    pub lint: Lint,
}

/// One AI (or a family such as 310n whose last digit is the decimal position).
#[derive(Debug)]
pub struct AiDef {
    /// The AI digits; for a decimal family only the first three, the fourth being `n`.
    pub prefix: &'static str,
    /// Number of digits of the AI itself (2–4).
    pub len: u8,
    pub title: &'static str,
    pub parts: &'static [Part],
    /// For decimal families: the largest allowed decimal-point position `n`.
    pub max_decimals: Option<u8>,
}

impl AiDef {
    /// Fixed total value length, when every component has a fixed length.
    pub fn fixed_value_len(&self) -> Option<usize> {
        let mut total = 0usize;
        for p in self.parts {
            if p.min != p.max {
                return None;
            }
            total += p.max as usize;
        }
        Some(total)
    }

    /// Longest value length.
    pub fn max_value_len(&self) -> usize {
        self.parts.iter().map(|p| p.max as usize).sum()
    }

    /// Whether an FNC1/GS must follow this AI's value when another element follows. Only the AIs
    /// whose first two digits are in the GS1 "predefined length" table may omit it.
    pub fn needs_separator(&self) -> bool {
        predefined_length(self.prefix.as_bytes()).is_none()
    }

    /// Whether the value is a date (or date-time) that `dates` should report.
    pub fn is_date(&self) -> bool {
        self.parts
            .first()
            .map(|p| {
                matches!(
                    p.lint,
                    Lint::Date { .. } | Lint::DateTime { .. } | Lint::FullDate
                )
            })
            .unwrap_or(false)
    }
}

/// Total element length (AI + value) for AIs whose first two digits are in the GS1 predefined
/// length table (GS1 General Specifications figure 7.8.5-2).
pub fn predefined_length(ai: &[u8]) -> Option<usize> {
    let two = ai.get(..2)?;
    Some(match two {
        b"00" => 20,
        b"01" | b"02" | b"03" => 16,
        b"04" => 18,
        b"11" | b"12" | b"13" | b"14" | b"15" | b"16" | b"17" | b"18" | b"19" => 8,
        b"20" => 4,
        b"31" | b"32" | b"33" | b"34" | b"35" | b"36" => 10,
        b"41" => 16,
        _ => return None,
    })
}

const fn n(len: u8) -> Part {
    Part {
        charset: Charset::Numeric,
        min: len,
        max: len,
        lint: Lint::None,
    }
}
const fn nv(max: u8) -> Part {
    Part {
        charset: Charset::Numeric,
        min: 1,
        max,
        lint: Lint::None,
    }
}
const fn x(max: u8) -> Part {
    Part {
        charset: Charset::Cset82,
        min: 1,
        max,
        lint: Lint::None,
    }
}
const fn xf(len: u8) -> Part {
    Part {
        charset: Charset::Cset82,
        min: len,
        max: len,
        lint: Lint::None,
    }
}
const fn cd(len: u8, what: &'static str) -> Part {
    Part {
        charset: Charset::Numeric,
        min: len,
        max: len,
        lint: Lint::CheckDigit(what),
    }
}
const fn lint(mut p: Part, l: Lint) -> Part {
    p.lint = l;
    p
}
const DATE: Part = lint(n(6), Lint::Date { day00: false });
const DATE0: Part = lint(n(6), Lint::Date { day00: true });
const ISO3: Part = lint(n(3), Lint::Iso3);
const FLAG: Part = lint(n(1), Lint::Flag);

macro_rules! ai {
    ($p:expr, $t:expr, [$($part:expr),+]) => {
        AiDef { prefix: $p, len: $p.len() as u8, title: $t, parts: &[$($part),+], max_decimals: None }
    };
}
macro_rules! dec {
    ($p:expr, $maxd:expr, $t:expr, [$($part:expr),+]) => {
        AiDef { prefix: $p, len: 4, title: $t, parts: &[$($part),+], max_decimals: Some($maxd) }
    };
}

/// The AI table.
pub static AIS: &[AiDef] = &[
    ai!("00", "SSCC", [cd(18, "SSCC")]),
    ai!("01", "GTIN", [cd(14, "GTIN")]),
    ai!("02", "CONTENT", [cd(14, "GTIN")]),
    ai!("10", "BATCH/LOT", [x(20)]),
    ai!("11", "PROD DATE", [DATE0]),
    ai!("12", "DUE DATE", [DATE0]),
    ai!("13", "PACK DATE", [DATE0]),
    ai!("15", "BEST BEFORE or BEST BY", [DATE0]),
    ai!("16", "SELL BY", [DATE0]),
    ai!("17", "USE BY or EXPIRY", [DATE0]),
    ai!("20", "VARIANT", [n(2)]),
    ai!("21", "SERIAL", [x(20)]),
    ai!("22", "CPV", [x(20)]),
    ai!("235", "TPX", [x(28)]),
    ai!("240", "ADDITIONAL ID", [x(30)]),
    ai!("241", "CUST. PART No.", [x(30)]),
    ai!("242", "MTO VARIANT", [nv(6)]),
    ai!("243", "PCN", [x(20)]),
    ai!("250", "SECONDARY SERIAL", [x(30)]),
    ai!("251", "REF. TO SOURCE", [x(30)]),
    ai!(
        "253",
        "GDTI",
        [
            cd(13, "GDTI"),
            Part {
                charset: Charset::Cset82,
                min: 0,
                max: 17,
                lint: Lint::None
            }
        ]
    ),
    ai!("254", "GLN EXTENSION COMPONENT", [x(20)]),
    ai!(
        "255",
        "GCN",
        [
            cd(13, "GCN"),
            Part {
                charset: Charset::Numeric,
                min: 0,
                max: 12,
                lint: Lint::None
            }
        ]
    ),
    ai!("30", "VAR. COUNT", [nv(8)]),
    dec!("310", 5, "NET WEIGHT (kg)", [n(6)]),
    dec!("311", 5, "LENGTH (m)", [n(6)]),
    dec!("312", 5, "WIDTH (m)", [n(6)]),
    dec!("313", 5, "HEIGHT (m)", [n(6)]),
    dec!("314", 5, "AREA (m2)", [n(6)]),
    dec!("315", 5, "NET VOLUME (l)", [n(6)]),
    dec!("316", 5, "NET VOLUME (m3)", [n(6)]),
    dec!("320", 5, "NET WEIGHT (lb)", [n(6)]),
    dec!("321", 5, "LENGTH (in)", [n(6)]),
    dec!("322", 5, "LENGTH (ft)", [n(6)]),
    dec!("323", 5, "LENGTH (yd)", [n(6)]),
    dec!("324", 5, "WIDTH (in)", [n(6)]),
    dec!("325", 5, "WIDTH (ft)", [n(6)]),
    dec!("326", 5, "WIDTH (yd)", [n(6)]),
    dec!("327", 5, "HEIGHT (in)", [n(6)]),
    dec!("328", 5, "HEIGHT (ft)", [n(6)]),
    dec!("329", 5, "HEIGHT (yd)", [n(6)]),
    dec!("330", 5, "GROSS WEIGHT (kg)", [n(6)]),
    dec!("331", 5, "LENGTH (m), log", [n(6)]),
    dec!("332", 5, "WIDTH (m), log", [n(6)]),
    dec!("333", 5, "HEIGHT (m), log", [n(6)]),
    dec!("334", 5, "AREA (m2), log", [n(6)]),
    dec!("335", 5, "VOLUME (l), log", [n(6)]),
    dec!("336", 5, "VOLUME (m3), log", [n(6)]),
    dec!("337", 5, "KG PER m2", [n(6)]),
    dec!("340", 5, "GROSS WEIGHT (lb)", [n(6)]),
    dec!("341", 5, "LENGTH (in), log", [n(6)]),
    dec!("342", 5, "LENGTH (ft), log", [n(6)]),
    dec!("343", 5, "LENGTH (yd), log", [n(6)]),
    dec!("344", 5, "WIDTH (in), log", [n(6)]),
    dec!("345", 5, "WIDTH (ft), log", [n(6)]),
    dec!("346", 5, "WIDTH (yd), log", [n(6)]),
    dec!("347", 5, "HEIGHT (in), log", [n(6)]),
    dec!("348", 5, "HEIGHT (ft), log", [n(6)]),
    dec!("349", 5, "HEIGHT (yd), log", [n(6)]),
    dec!("350", 5, "AREA (in2)", [n(6)]),
    dec!("351", 5, "AREA (ft2)", [n(6)]),
    dec!("352", 5, "AREA (yd2)", [n(6)]),
    dec!("353", 5, "AREA (in2), log", [n(6)]),
    dec!("354", 5, "AREA (ft2), log", [n(6)]),
    dec!("355", 5, "AREA (yd2), log", [n(6)]),
    dec!("356", 5, "NET WEIGHT (t oz)", [n(6)]),
    dec!("357", 5, "NET VOLUME (oz)", [n(6)]),
    dec!("360", 5, "NET VOLUME (qt)", [n(6)]),
    dec!("361", 5, "NET VOLUME (gal.)", [n(6)]),
    dec!("362", 5, "VOLUME (qt), log", [n(6)]),
    dec!("363", 5, "VOLUME (gal.), log", [n(6)]),
    dec!("364", 5, "VOLUME (in3)", [n(6)]),
    dec!("365", 5, "VOLUME (ft3)", [n(6)]),
    dec!("366", 5, "VOLUME (yd3)", [n(6)]),
    dec!("367", 5, "VOLUME (in3), log", [n(6)]),
    dec!("368", 5, "VOLUME (ft3), log", [n(6)]),
    dec!("369", 5, "VOLUME (yd3), log", [n(6)]),
    ai!("37", "COUNT", [nv(8)]),
    dec!("390", 9, "AMOUNT", [nv(15)]),
    dec!("391", 9, "AMOUNT (with currency)", [ISO3, nv(15)]),
    dec!("392", 9, "PRICE", [nv(15)]),
    dec!("393", 9, "PRICE (with currency)", [ISO3, nv(15)]),
    dec!("394", 3, "PRCNT OFF", [n(4)]),
    dec!("395", 5, "PRICE/UoM", [n(6)]),
    ai!("400", "ORDER NUMBER", [x(30)]),
    ai!("401", "GINC", [x(30)]),
    ai!("402", "GSIN", [cd(17, "GSIN")]),
    ai!("403", "ROUTE", [x(30)]),
    ai!("410", "SHIP TO LOC", [cd(13, "GLN")]),
    ai!("411", "BILL TO", [cd(13, "GLN")]),
    ai!("412", "PURCHASE FROM", [cd(13, "GLN")]),
    ai!("413", "SHIP FOR LOC", [cd(13, "GLN")]),
    ai!("414", "LOC No.", [cd(13, "GLN")]),
    ai!("415", "PAY TO", [cd(13, "GLN")]),
    ai!("416", "PROD/SERV LOC", [cd(13, "GLN")]),
    ai!("417", "PARTY", [cd(13, "GLN")]),
    ai!("420", "SHIP TO POST", [x(20)]),
    ai!("421", "SHIP TO POST (with country)", [ISO3, x(9)]),
    ai!("422", "ORIGIN", [ISO3]),
    ai!(
        "423",
        "COUNTRY - INITIAL PROCESS",
        [
            ISO3,
            Part {
                charset: Charset::Numeric,
                min: 0,
                max: 12,
                lint: Lint::None
            }
        ]
    ),
    ai!("424", "COUNTRY - PROCESS", [ISO3]),
    ai!(
        "425",
        "COUNTRY - DISASSEMBLY",
        [
            ISO3,
            Part {
                charset: Charset::Numeric,
                min: 0,
                max: 12,
                lint: Lint::None
            }
        ]
    ),
    ai!("426", "COUNTRY - FULL PROCESS", [ISO3]),
    ai!("427", "ORIGIN SUBDIVISION", [x(3)]),
    ai!("4300", "SHIP TO COMP", [x(35)]),
    ai!("4301", "SHIP TO NAME", [x(35)]),
    ai!("4302", "SHIP TO ADD1", [x(70)]),
    ai!("4303", "SHIP TO ADD2", [x(70)]),
    ai!("4304", "SHIP TO SUB", [x(70)]),
    ai!("4305", "SHIP TO LOC", [x(70)]),
    ai!("4306", "SHIP TO REG", [x(70)]),
    ai!("4307", "SHIP TO COUNTRY", [xf(2)]),
    ai!("4308", "SHIP TO PHONE", [x(30)]),
    ai!("4309", "SHIP TO GEO", [n(20)]),
    ai!("4310", "RTN TO COMP", [x(35)]),
    ai!("4311", "RTN TO NAME", [x(35)]),
    ai!("4312", "RTN TO ADD1", [x(70)]),
    ai!("4313", "RTN TO ADD2", [x(70)]),
    ai!("4314", "RTN TO SUB", [x(70)]),
    ai!("4315", "RTN TO LOC", [x(70)]),
    ai!("4316", "RTN TO REG", [x(70)]),
    ai!("4317", "RTN TO COUNTRY", [xf(2)]),
    ai!("4318", "RTN TO POST", [x(20)]),
    ai!("4319", "RTN TO PHONE", [x(30)]),
    ai!("4320", "SRV DESCRIPTION", [x(35)]),
    ai!("4321", "DANGEROUS GOODS", [FLAG]),
    ai!("4322", "AUTH LEAVE", [FLAG]),
    ai!("4323", "SIG REQUIRED", [FLAG]),
    ai!(
        "4324",
        "NBEF DEL DT",
        [lint(n(10), Lint::DateTime { day00: true })]
    ),
    ai!(
        "4325",
        "NAFT DEL DT",
        [lint(n(10), Lint::DateTime { day00: true })]
    ),
    ai!("4326", "REL DATE", [DATE]),
    ai!(
        "4330",
        "MAX TEMP F",
        [
            n(6),
            Part {
                charset: Charset::Cset82,
                min: 0,
                max: 1,
                lint: Lint::None
            }
        ]
    ),
    ai!(
        "4331",
        "MAX TEMP C",
        [
            n(6),
            Part {
                charset: Charset::Cset82,
                min: 0,
                max: 1,
                lint: Lint::None
            }
        ]
    ),
    ai!(
        "4332",
        "MIN TEMP F",
        [
            n(6),
            Part {
                charset: Charset::Cset82,
                min: 0,
                max: 1,
                lint: Lint::None
            }
        ]
    ),
    ai!(
        "4333",
        "MIN TEMP C",
        [
            n(6),
            Part {
                charset: Charset::Cset82,
                min: 0,
                max: 1,
                lint: Lint::None
            }
        ]
    ),
    ai!("7001", "NSN", [n(13)]),
    ai!("7002", "MEAT CUT", [x(30)]),
    ai!(
        "7003",
        "EXPIRY TIME",
        [lint(n(10), Lint::DateTime { day00: false })]
    ),
    ai!("7004", "ACTIVE POTENCY", [nv(4)]),
    ai!("7005", "CATCH AREA", [x(12)]),
    ai!("7006", "FIRST FREEZE DATE", [DATE]),
    ai!(
        "7007",
        "HARVEST DATE",
        [
            DATE,
            Part {
                charset: Charset::Numeric,
                min: 0,
                max: 6,
                lint: Lint::Date { day00: false }
            }
        ]
    ),
    ai!("7008", "AQUATIC SPECIES", [x(3)]),
    ai!("7009", "FISHING GEAR TYPE", [x(10)]),
    ai!("7010", "PROD METHOD", [x(2)]),
    ai!(
        "7011",
        "TEST BY DATE",
        [
            DATE,
            Part {
                charset: Charset::Numeric,
                min: 0,
                max: 4,
                lint: Lint::Time
            }
        ]
    ),
    ai!("7020", "REFURB LOT", [x(20)]),
    ai!("7021", "FUNC STAT", [x(20)]),
    ai!("7022", "REV STAT", [x(20)]),
    ai!("7023", "GIAI - ASSEMBLY", [x(30)]),
    ai!("7030", "PROCESSOR # 0", [ISO3, x(27)]),
    ai!("7031", "PROCESSOR # 1", [ISO3, x(27)]),
    ai!("7032", "PROCESSOR # 2", [ISO3, x(27)]),
    ai!("7033", "PROCESSOR # 3", [ISO3, x(27)]),
    ai!("7034", "PROCESSOR # 4", [ISO3, x(27)]),
    ai!("7035", "PROCESSOR # 5", [ISO3, x(27)]),
    ai!("7036", "PROCESSOR # 6", [ISO3, x(27)]),
    ai!("7037", "PROCESSOR # 7", [ISO3, x(27)]),
    ai!("7038", "PROCESSOR # 8", [ISO3, x(27)]),
    ai!("7039", "PROCESSOR # 9", [ISO3, x(27)]),
    ai!("7040", "UIC+EXT", [n(1), xf(3)]),
    ai!("7041", "UFRGT UNIT TYPE", [x(4)]),
    ai!("710", "NHRN PZN", [x(20)]),
    ai!("711", "NHRN CIP", [x(20)]),
    ai!("712", "NHRN CN", [x(20)]),
    ai!("713", "NHRN DRN", [x(20)]),
    ai!("714", "NHRN AIM", [x(20)]),
    ai!("715", "NHRN NDC", [x(20)]),
    ai!("716", "NHRN AIC", [x(20)]),
    ai!("7230", "CERT # 0", [xf(2), x(28)]),
    ai!("7231", "CERT # 1", [xf(2), x(28)]),
    ai!("7232", "CERT # 2", [xf(2), x(28)]),
    ai!("7233", "CERT # 3", [xf(2), x(28)]),
    ai!("7234", "CERT # 4", [xf(2), x(28)]),
    ai!("7235", "CERT # 5", [xf(2), x(28)]),
    ai!("7236", "CERT # 6", [xf(2), x(28)]),
    ai!("7237", "CERT # 7", [xf(2), x(28)]),
    ai!("7238", "CERT # 8", [xf(2), x(28)]),
    ai!("7239", "CERT # 9", [xf(2), x(28)]),
    ai!("7240", "PROTOCOL", [x(20)]),
    ai!("7241", "AIDC MEDIA TYPE", [n(2)]),
    ai!("7242", "VCN", [x(25)]),
    ai!("7250", "DOB", [lint(n(8), Lint::FullDate)]),
    ai!(
        "7251",
        "DOB TIME",
        [lint(n(8), Lint::FullDate), lint(n(4), Lint::Time)]
    ),
    ai!("7252", "BIO SEX", [n(1)]),
    ai!("7253", "FAMILY NAME", [x(40)]),
    ai!("7254", "GIVEN NAME", [x(40)]),
    ai!("7255", "SUFFIX", [x(10)]),
    ai!("7256", "FULL NAME", [x(90)]),
    ai!("7257", "PERSON ADDR", [x(70)]),
    ai!("7258", "BIRTH SEQUENCE", [n(1), xf(1), n(1)]),
    ai!("7259", "BABY", [x(40)]),
    ai!("8001", "DIMENSIONS", [n(14)]),
    ai!("8002", "CMT No.", [x(20)]),
    ai!(
        "8003",
        "GRAI",
        [
            n(1),
            cd(13, "GRAI"),
            Part {
                charset: Charset::Cset82,
                min: 0,
                max: 16,
                lint: Lint::None
            }
        ]
    ),
    ai!("8004", "GIAI", [x(30)]),
    ai!("8005", "PRICE PER UNIT", [n(6)]),
    ai!("8006", "ITIP", [cd(14, "GTIN"), n(2), n(2)]),
    ai!("8007", "IBAN", [x(34)]),
    ai!(
        "8008",
        "PROD TIME",
        [
            DATE,
            Part {
                charset: Charset::Numeric,
                min: 2,
                max: 6,
                lint: Lint::Time
            }
        ]
    ),
    ai!("8009", "OPTSEN", [x(50)]),
    ai!(
        "8010",
        "CPID",
        [Part {
            charset: Charset::Cset39,
            min: 1,
            max: 30,
            lint: Lint::None
        }]
    ),
    ai!("8011", "CPID SERIAL", [nv(12)]),
    ai!("8012", "VERSION", [x(20)]),
    ai!("8013", "GMN", [x(25)]),
    ai!("8014", "MUDI", [x(25)]),
    ai!("8017", "GSRN - PROVIDER", [cd(18, "GSRN")]),
    ai!("8018", "GSRN - RECIPIENT", [cd(18, "GSRN")]),
    ai!("8019", "SRIN", [nv(10)]),
    ai!("8020", "REF No.", [x(25)]),
    ai!("8026", "ITIP CONTENT", [cd(14, "GTIN"), n(2), n(2)]),
    ai!(
        "8030",
        "DIGSIG",
        [Part {
            charset: Charset::Cset64,
            min: 1,
            max: 90,
            lint: Lint::None
        }]
    ),
    ai!("8110", "COUPON", [x(70)]),
    ai!("8111", "POINTS", [n(4)]),
    ai!("8112", "PAPERLESS COUPON", [x(70)]),
    ai!("8200", "PRODUCT URL", [x(70)]),
    ai!("90", "INTERNAL", [x(30)]),
    ai!("91", "INTERNAL", [x(90)]),
    ai!("92", "INTERNAL", [x(90)]),
    ai!("93", "INTERNAL", [x(90)]),
    ai!("94", "INTERNAL", [x(90)]),
    ai!("95", "INTERNAL", [x(90)]),
    ai!("96", "INTERNAL", [x(90)]),
    ai!("97", "INTERNAL", [x(90)]),
    ai!("98", "INTERNAL", [x(90)]),
    ai!("99", "INTERNAL", [x(90)]),
];

/// How an AI must be combined with others in one scan (GS1 General Specifications, "mandatory
/// associations" and "invalid pairs"): every group of `requires` needs one of its AIs present, and
/// none of `excludes` may be. Patterns end in `n` for "any digit" (`310n`, `31nn`). An AI never
/// excludes itself through a pattern: `3103` excludes another `310n`, not its own element.
#[derive(Debug, Clone, Copy)]
pub struct Pairing {
    /// The AI or AI family the rule is for (`"10"`, `"310n"`).
    pub ai: &'static str,
    pub requires: &'static [&'static [&'static str]],
    pub excludes: &'static [&'static str],
}

const fn pair(
    ai: &'static str,
    requires: &'static [&'static [&'static str]],
    excludes: &'static [&'static str],
) -> Pairing {
    Pairing {
        ai,
        requires,
        excludes,
    }
}

/// Trade item identification an attribute such as a lot or a date belongs to.
const ITEM: &[&str] = &["01", "02", "8006", "8026"];
const ITEM_OR_CONTENT: &[&str] = &["01", "02"];
const LOGISTIC: &[&str] = &["00", "01"];
const MEASURE: &[&str] = &["30", "31nn", "32nn", "35nn", "36nn"];
const SHIPMENT: &[&str] = &["00"];

/// The pairing rules, one per AI or family; AIs without a rule may appear with anything.
pub static PAIRINGS: &[Pairing] = &[
    pair("01", &[], &["02", "255", "37"]),
    pair("02", &[&["37"]], &[]),
    pair("10", &[ITEM], &[]),
    pair("11", &[ITEM], &[]),
    pair("12", &[&["8020"]], &[]),
    pair("13", &[ITEM], &[]),
    pair("15", &[ITEM], &[]),
    pair("16", &[ITEM], &[]),
    pair("17", &[&["01", "02", "255", "8006", "8026"]], &[]),
    pair("20", &[ITEM], &[]),
    pair("21", &[&["01", "8006"]], &["235"]),
    pair("22", &[&["01"]], &[]),
    pair("235", &[&["01"]], &[]),
    pair("240", &[ITEM], &[]),
    pair("241", &[ITEM], &[]),
    pair("242", &[ITEM], &[]),
    pair("243", &[&["01"]], &[]),
    pair("250", &[&["01", "8006"], &["21"]], &[]),
    pair("251", &[&["01", "8006"]], &[]),
    pair("254", &[&["414"]], &[]),
    pair("255", &[], &["01", "02", "415", "8006", "8020", "8026"]),
    pair("30", &[ITEM_OR_CONTENT], &[]),
    pair("310n", &[ITEM_OR_CONTENT], &["310n"]),
    pair("311n", &[ITEM_OR_CONTENT], &["311n"]),
    pair("312n", &[ITEM_OR_CONTENT], &["312n"]),
    pair("313n", &[ITEM_OR_CONTENT], &["313n"]),
    pair("314n", &[ITEM_OR_CONTENT], &["314n"]),
    pair("315n", &[ITEM_OR_CONTENT], &["315n"]),
    pair("316n", &[ITEM_OR_CONTENT], &["316n"]),
    pair("320n", &[ITEM_OR_CONTENT], &["320n"]),
    pair("321n", &[ITEM_OR_CONTENT], &["321n"]),
    pair("322n", &[ITEM_OR_CONTENT], &["322n"]),
    pair("323n", &[ITEM_OR_CONTENT], &["323n"]),
    pair("324n", &[ITEM_OR_CONTENT], &["324n"]),
    pair("325n", &[ITEM_OR_CONTENT], &["325n"]),
    pair("326n", &[ITEM_OR_CONTENT], &["326n"]),
    pair("327n", &[ITEM_OR_CONTENT], &["327n"]),
    pair("328n", &[ITEM_OR_CONTENT], &["328n"]),
    pair("329n", &[ITEM_OR_CONTENT], &["329n"]),
    pair("330n", &[LOGISTIC], &["330n"]),
    pair("331n", &[LOGISTIC], &["331n"]),
    pair("332n", &[LOGISTIC], &["332n"]),
    pair("333n", &[LOGISTIC], &["333n"]),
    pair("334n", &[LOGISTIC], &["334n"]),
    pair("335n", &[LOGISTIC], &["335n"]),
    pair("336n", &[LOGISTIC], &["336n"]),
    pair("337n", &[&["01"]], &["337n"]),
    pair("340n", &[LOGISTIC], &["340n"]),
    pair("341n", &[LOGISTIC], &["341n"]),
    pair("342n", &[LOGISTIC], &["342n"]),
    pair("343n", &[LOGISTIC], &["343n"]),
    pair("344n", &[LOGISTIC], &["344n"]),
    pair("345n", &[LOGISTIC], &["345n"]),
    pair("346n", &[LOGISTIC], &["346n"]),
    pair("347n", &[LOGISTIC], &["347n"]),
    pair("348n", &[LOGISTIC], &["348n"]),
    pair("349n", &[LOGISTIC], &["349n"]),
    pair("350n", &[ITEM_OR_CONTENT], &["350n"]),
    pair("351n", &[ITEM_OR_CONTENT], &["351n"]),
    pair("352n", &[ITEM_OR_CONTENT], &["352n"]),
    pair("353n", &[LOGISTIC], &["353n"]),
    pair("354n", &[LOGISTIC], &["354n"]),
    pair("355n", &[LOGISTIC], &["355n"]),
    pair("356n", &[ITEM_OR_CONTENT], &["356n"]),
    pair("357n", &[ITEM_OR_CONTENT], &["357n"]),
    pair("360n", &[ITEM_OR_CONTENT], &["360n"]),
    pair("361n", &[ITEM_OR_CONTENT], &["361n"]),
    pair("362n", &[LOGISTIC], &["362n"]),
    pair("363n", &[LOGISTIC], &["363n"]),
    pair("364n", &[ITEM_OR_CONTENT], &["364n"]),
    pair("365n", &[ITEM_OR_CONTENT], &["365n"]),
    pair("366n", &[ITEM_OR_CONTENT], &["366n"]),
    pair("367n", &[LOGISTIC], &["367n"]),
    pair("368n", &[LOGISTIC], &["368n"]),
    pair("369n", &[LOGISTIC], &["369n"]),
    pair("37", &[SHIPMENT, &["02", "8026"]], &[]),
    pair(
        "390n",
        &[&["255", "8020"]],
        &["390n", "391n", "394n", "8111"],
    ),
    pair("391n", &[&["8020"]], &["391n"]),
    pair("392n", &[&["01"], MEASURE], &["392n", "393n"]),
    pair("393n", &[MEASURE], &["393n"]),
    pair("394n", &[&["255"]], &["394n", "8111"]),
    pair("395n", &[MEASURE], &["392n", "393n", "395n", "8005"]),
    pair("403", &[SHIPMENT], &[]),
    pair("415", &[&["8020"]], &[]),
    pair("420", &[], &["421"]),
    pair("421", &[], &["4307"]),
    pair("422", &[ITEM], &["426"]),
    pair("423", &[ITEM_OR_CONTENT], &["426"]),
    pair("424", &[ITEM_OR_CONTENT], &["426"]),
    pair("425", &[ITEM_OR_CONTENT], &["426"]),
    pair("426", &[ITEM_OR_CONTENT], &[]),
    pair("427", &[ITEM_OR_CONTENT, &["422"]], &[]),
    pair("4300", &[SHIPMENT], &[]),
    pair("4301", &[SHIPMENT], &[]),
    pair("4302", &[SHIPMENT], &[]),
    pair("4303", &[&["4302"]], &[]),
    pair("4304", &[SHIPMENT], &[]),
    pair("4305", &[SHIPMENT], &[]),
    pair("4306", &[SHIPMENT], &[]),
    pair("4307", &[SHIPMENT], &[]),
    pair("4308", &[SHIPMENT], &[]),
    pair("4309", &[SHIPMENT], &[]),
    pair("4310", &[SHIPMENT], &[]),
    pair("4311", &[SHIPMENT], &[]),
    pair("4312", &[SHIPMENT], &[]),
    pair("4313", &[&["4312"]], &[]),
    pair("4314", &[SHIPMENT], &[]),
    pair("4315", &[SHIPMENT], &[]),
    pair("4316", &[SHIPMENT], &[]),
    pair("4317", &[SHIPMENT], &[]),
    pair("4318", &[SHIPMENT], &[]),
    pair("4319", &[SHIPMENT], &[]),
    pair("4320", &[SHIPMENT], &[]),
    pair("4321", &[SHIPMENT], &[]),
    pair("4322", &[SHIPMENT], &[]),
    pair("4323", &[SHIPMENT], &[]),
    pair("4324", &[SHIPMENT], &[]),
    pair("4325", &[SHIPMENT], &[]),
    pair("4326", &[SHIPMENT], &[]),
    pair("4330", &[SHIPMENT], &["4331"]),
    pair("4331", &[SHIPMENT], &["4330"]),
    pair("4332", &[SHIPMENT], &["4333"]),
    pair("4333", &[SHIPMENT], &["4332"]),
    pair("7001", &[ITEM], &[]),
    pair("7002", &[ITEM_OR_CONTENT], &[]),
    pair("7003", &[ITEM_OR_CONTENT], &[]),
    pair("7004", &[&["01"], &["10"]], &[]),
    pair("7005", &[ITEM_OR_CONTENT], &[]),
    pair("7006", &[ITEM_OR_CONTENT], &[]),
    pair("7007", &[ITEM_OR_CONTENT], &[]),
    pair("7008", &[ITEM_OR_CONTENT], &[]),
    pair("7009", &[ITEM_OR_CONTENT], &[]),
    pair("7010", &[ITEM_OR_CONTENT], &[]),
    pair("7011", &[ITEM_OR_CONTENT], &[]),
    pair("7020", &[&["01", "8006"], &["416"]], &[]),
    pair("7021", &[&["01", "8006"]], &[]),
    pair("7022", &[&["7021"]], &[]),
    pair("703n", &[ITEM_OR_CONTENT], &[]),
    pair("710", &[&["01"]], &[]),
    pair("711", &[&["01"]], &[]),
    pair("712", &[&["01"]], &[]),
    pair("713", &[&["01"]], &[]),
    pair("714", &[&["01"]], &[]),
    pair("715", &[&["01"]], &[]),
    pair("716", &[&["01"]], &[]),
    pair("723n", &[&["01", "8004"]], &[]),
    pair("7240", &[&["01", "8006"]], &[]),
    pair("7241", &[&["8017", "8018"]], &[]),
    pair("7242", &[&["8017", "8018"]], &[]),
    pair("8001", &[&["01"]], &[]),
    pair("8005", &[ITEM_OR_CONTENT], &[]),
    pair("8006", &[], &["01", "37"]),
    pair("8007", &[&["415"]], &[]),
    pair("8008", &[ITEM_OR_CONTENT], &[]),
    pair("8009", &[LOGISTIC], &[]),
    pair("8011", &[&["8010"]], &[]),
    pair("8012", &[&["01", "8006"]], &[]),
    pair("8017", &[], &["8018"]),
    pair("8018", &[], &["8017"]),
    pair("8019", &[&["8017", "8018"]], &[]),
    pair("8020", &[&["415"]], &[]),
    pair("8026", &[&["37"]], &["02", "8006"]),
    pair(
        "8030",
        &[&[
            "00", "01", "253", "255", "8003", "8004", "8006", "8010", "8017", "8018",
        ]],
        &[],
    ),
    pair("8111", &[&["255"]], &[]),
    pair("8200", &[&["01"]], &[]),
];

/// Whether `ai` (the AI digits of an element) matches `pattern` (`n` = any digit).
pub fn matches_pattern(ai: &str, pattern: &str) -> bool {
    ai.len() == pattern.len()
        && ai
            .bytes()
            .zip(pattern.bytes())
            .all(|(a, p)| p == a || (p == b'n' && a.is_ascii_digit()))
}

/// The pairing rule of an AI, if it has one.
pub fn pairing(ai: &str) -> Option<&'static Pairing> {
    static INDEX: OnceLock<Vec<Option<u16>>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        AIS.iter()
            .map(|def| {
                PAIRINGS
                    .iter()
                    .position(|p| {
                        p.ai == def.prefix
                            || (p.ai.len() == 4
                                && p.ai.ends_with('n')
                                && p.ai.starts_with(def.prefix))
                    })
                    .map(|i| i as u16)
            })
            .collect()
    });
    let slot = lookup_slot(ai.as_bytes()).filter(|&i| usize::from(AIS[i].len) == ai.len())?;
    let rule = &PAIRINGS[usize::from(index.get(slot).copied().flatten()?)];
    matches_pattern(ai, rule.ai).then_some(rule)
}

/// AIs that identify something on their own (GS1 identification keys): a bare scan is read as GS1
/// only when it carries one of them (or a separator), so a SKU such as `10-PACK` stays a SKU.
pub const KEYS: &[&str] = &[
    "00", "01", "02", "253", "255", "401", "402", "410", "411", "412", "413", "414", "415", "416",
    "417", "7023", "8003", "8004", "8006", "8010", "8013", "8017", "8018",
];

/// Whether `ai` is a GS1 identification key.
pub fn is_key(ai: &str) -> bool {
    KEYS.contains(&ai)
}

/// A GS1 Digital Link primary key and the qualifiers that may follow it in the URI path, as
/// alternative ordered sequences (any of them in order, each optional).
#[derive(Debug, Clone, Copy)]
pub struct LinkKey {
    pub ai: &'static str,
    pub qualifiers: &'static [&'static [&'static str]],
}

/// The primary keys a Digital Link path may carry (GS1 Digital Link standard).
pub static LINK_KEYS: &[LinkKey] = &[
    LinkKey {
        ai: "00",
        qualifiers: &[],
    },
    LinkKey {
        ai: "01",
        qualifiers: &[&["22", "10", "21"], &["235"]],
    },
    LinkKey {
        ai: "253",
        qualifiers: &[],
    },
    LinkKey {
        ai: "255",
        qualifiers: &[],
    },
    LinkKey {
        ai: "401",
        qualifiers: &[],
    },
    LinkKey {
        ai: "402",
        qualifiers: &[],
    },
    LinkKey {
        ai: "414",
        qualifiers: &[&["254"], &["7040"]],
    },
    LinkKey {
        ai: "415",
        qualifiers: &[&["8020"]],
    },
    LinkKey {
        ai: "417",
        qualifiers: &[&["7040"]],
    },
    LinkKey {
        ai: "8003",
        qualifiers: &[],
    },
    LinkKey {
        ai: "8004",
        qualifiers: &[&["7040"]],
    },
    LinkKey {
        ai: "8006",
        qualifiers: &[&["22", "10", "21"]],
    },
    LinkKey {
        ai: "8010",
        qualifiers: &[&["8011"]],
    },
    LinkKey {
        ai: "8013",
        qualifiers: &[],
    },
    LinkKey {
        ai: "8017",
        qualifiers: &[&["8019"]],
    },
    LinkKey {
        ai: "8018",
        qualifiers: &[&["8019"]],
    },
];

/// The Digital Link primary key `ai`, if it is one.
pub fn link_key(ai: &str) -> Option<&'static LinkKey> {
    LINK_KEYS.iter().find(|k| k.ai == ai)
}

impl LinkKey {
    /// Whether `ai` may qualify this key in a URI path.
    pub fn qualified_by(&self, ai: &str) -> bool {
        self.qualifiers.iter().any(|seq| seq.contains(&ai))
    }

    /// Whether the qualifiers, in path order, follow one of the key's sequences.
    pub fn accepts(&self, qualifiers: &[&str]) -> bool {
        if qualifiers.is_empty() {
            return true;
        }
        self.qualifiers.iter().any(|seq| {
            let mut at = 0;
            qualifiers
                .iter()
                .all(|q| match seq[at..].iter().position(|s| s == q) {
                    Some(i) => {
                        at += i + 1;
                        true
                    }
                    None => false,
                })
        })
    }
}

const NONE: u16 = u16::MAX;

/// Index from every 4-digit prefix to its AI, built once: lookup is one array read, which keeps
/// parsing well above a million scans per second.
fn index() -> &'static [u16; 10_000] {
    static INDEX: OnceLock<Box<[u16; 10_000]>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut idx = Box::new([NONE; 10_000]);
        for (i, def) in AIS.iter().enumerate() {
            let p = def.prefix.as_bytes();
            let mut base = 0usize;
            for b in p {
                base = base * 10 + usize::from(b - b'0');
            }
            let span = 10usize.pow(4 - p.len() as u32);
            let start = base * span;
            for slot in idx.iter_mut().skip(start).take(span) {
                *slot = i as u16;
            }
        }
        idx
    })
}

/// The AI definition that `data` starts with, if any. `data` may be shorter than four bytes;
/// missing digits are treated as zeros and the caller checks that the AI itself fits.
pub fn lookup(data: &[u8]) -> Option<&'static AiDef> {
    lookup_slot(data).map(|i| &AIS[i])
}

/// The position in [`AIS`] of the AI `data` starts with.
fn lookup_slot(data: &[u8]) -> Option<usize> {
    let mut key = 0usize;
    for i in 0..4 {
        let d = match data.get(i) {
            Some(b) if b.is_ascii_digit() => usize::from(b - b'0'),
            Some(_) if i < 2 => return None,
            // A non-digit after two digits can still end a 2-digit AI ("10ABC"); zero-fill.
            _ => 0,
        };
        key = key * 10 + d;
    }
    let i = usize::from(index()[key]);
    let def = AIS.get(i)?;
    let ai = data.get(..usize::from(def.len))?;
    if !ai.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if let Some(maxd) = def.max_decimals {
        let n = ai[3] - b'0';
        if n > maxd {
            return None;
        }
    }
    Some(i)
}

/// Whether `c` is in GS1 character set 82.
pub fn in_cset82(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'"'
                | b'%'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'-'
                | b'.'
                | b'/'
                | b':'
                | b';'
                | b'<'
                | b'='
                | b'>'
                | b'?'
                | b'_'
        )
}

/// Whether `c` is in GS1 character set 39.
pub fn in_cset39(c: u8) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase() || matches!(c, b'#' | b'-' | b'/')
}

/// Whether `c` is in the URI-safe base64 set.
pub fn in_cset64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_lengths_agree_with_table() {
        // Every AI in the predefined-length table must have exactly that fixed length here,
        // otherwise parsing without separators would cut elements in the wrong place.
        for def in AIS {
            if let Some(total) = predefined_length(def.prefix.as_bytes()) {
                assert_eq!(
                    def.fixed_value_len().map(|v| v + usize::from(def.len)),
                    Some(total),
                    "AI {}",
                    def.prefix
                );
            }
        }
    }

    #[test]
    fn lookup_picks_the_right_length() {
        assert_eq!(lookup(b"0109501101530003").map(|d| d.prefix), Some("01"));
        assert_eq!(lookup(b"3103001234").map(|d| d.prefix), Some("310"));
        assert_eq!(lookup(b"3106001234").map(|d| d.prefix), None);
        assert_eq!(lookup(b"42094105").map(|d| d.prefix), Some("420"));
        assert_eq!(lookup(b"10A").map(|d| d.prefix), Some("10"));
        assert_eq!(lookup(b"14").map(|d| d.prefix), None);
        assert_eq!(lookup(b"4").map(|d| d.prefix), None);
        assert!(lookup(b"").is_none());
    }
}
