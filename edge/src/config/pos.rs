//! A register's settings: the `pos` station's `tenant_id`, `location`, `currency` and its
//! `[stations.pos]` table (pos-api.md "Configuration"), checked line by line like the rest of
//! the file and turned into the [`RegisterConfig`] the till's rules and store code take.

use serde::Deserialize;
use toml::Spanned;

use super::{StationConfig, StationKind};
use crate::domain::pos::Percent;

/// `[stations.pos]`. Every key has a default, so `[stations.pos]` may be left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosSection {
    pub prices_include_tax: Option<bool>,
    pub cash_rounding: Option<Spanned<i64>>,
    pub discount_limit_pct: Option<Spanned<i64>>,
    pub terminal_timeout_s: Option<Spanned<i64>>,
    pub offline_card_limit: Option<Spanned<i64>>,
    pub offline_card_total: Option<Spanned<i64>>,
    pub offline_card_hours: Option<Spanned<i64>>,
    pub return_days: Option<Spanned<i64>>,
    pub receipt_header: Option<Spanned<Vec<String>>>,
    pub receipt_footer: Option<Spanned<Vec<String>>>,
}

/// A register as the till's code sees it: one per `pos` station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterConfig {
    pub id: String,
    pub tenant_id: String,
    /// The stock location sales draw from (of kind `store`).
    pub location: String,
    /// ISO 4217; every amount of this register is in its minor units.
    pub currency: String,
    pub prices_include_tax: bool,
    /// Round cash-only balances to this many minor units; 0 = off.
    pub cash_rounding: i64,
    pub discount_limit_pct: Percent,
    pub terminal_timeout_s: u64,
    pub offline_card_limit: i64,
    pub offline_card_total: i64,
    pub offline_card_hours: i64,
    pub return_days: i64,
    pub receipt_header: Vec<String>,
    pub receipt_footer: Vec<String>,
    /// The register's receipt printer (a `receipt_printer` device with `station` = this id); the
    /// cash drawer hangs on its kick connector.
    pub receipt_printer: Option<String>,
    /// The site's IANA time zone: receipts and reports show local time.
    pub timezone: String,
    /// A cashier logged in at the register's scanner is logged out after this long without a scan.
    pub idle_timeout_s: u32,
}

/// Receipt printers print 42–48 columns; a longer line would wrap mid-word.
const RECEIPT_COLUMNS: usize = 48;

fn value(v: &Option<Spanned<i64>>, default: i64) -> i64 {
    v.as_ref().map_or(default, |s| *s.get_ref())
}

impl RegisterConfig {
    /// The register of a `pos` station (checked: call after [`check`] found nothing).
    pub fn of(s: &StationConfig) -> Option<RegisterConfig> {
        if s.kind != StationKind::Pos {
            return None;
        }
        let p = s.pos.clone().unwrap_or_default();
        Some(RegisterConfig {
            id: s.id.get_ref().clone(),
            tenant_id: s.tenant_id.as_ref()?.get_ref().clone(),
            location: s.location.clone()?,
            currency: s.currency.as_ref()?.get_ref().clone(),
            prices_include_tax: p.prices_include_tax.unwrap_or(false),
            cash_rounding: value(&p.cash_rounding, 0),
            discount_limit_pct: Percent::whole(value(&p.discount_limit_pct, 10)),
            terminal_timeout_s: value(&p.terminal_timeout_s, 120).max(1) as u64,
            offline_card_limit: value(&p.offline_card_limit, 10_000),
            offline_card_total: value(&p.offline_card_total, 50_000),
            offline_card_hours: value(&p.offline_card_hours, 24),
            return_days: value(&p.return_days, 30),
            receipt_header: p.receipt_header.map(|l| l.into_inner()).unwrap_or_default(),
            receipt_footer: p.receipt_footer.map(|l| l.into_inner()).unwrap_or_default(),
            receipt_printer: None,
            timezone: "UTC".into(),
            idle_timeout_s: s.idle_timeout_s.unwrap_or(900),
        })
    }
}

/// The problems of one station's POS settings, as `(span, message)`.
pub fn check(s: &StationConfig) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    let id = s.id.get_ref();
    if s.kind != StationKind::Pos {
        if let Some(t) = &s.tenant_id {
            out.push((
                t.span(),
                format!("tenant_id is for pos stations; station \"{id}\" is not one"),
            ));
        }
        if let Some(c) = &s.currency {
            out.push((
                c.span(),
                format!("currency is for pos stations; station \"{id}\" is not one"),
            ));
        }
        if s.pos.is_some() {
            out.push((
                s.id.span(),
                format!("[stations.pos] is for pos stations; station \"{id}\" is not one"),
            ));
        }
        return out;
    }
    for (key, present) in [
        ("tenant_id", s.tenant_id.is_some()),
        ("location", s.location.is_some()),
        ("currency", s.currency.is_some()),
    ] {
        if !present {
            out.push((
                s.id.span(),
                format!("pos station \"{id}\" needs {key} (see [stations.pos] in the README)"),
            ));
        }
    }
    if let Some(c) = &s.currency {
        let c_ref = c.get_ref();
        if c_ref.len() != 3 || !c_ref.bytes().all(|b| b.is_ascii_uppercase()) {
            out.push((
                c.span(),
                format!("currency \"{c_ref}\" must be an ISO 4217 code like USD"),
            ));
        }
    }
    let Some(p) = &s.pos else {
        return out;
    };
    let ranges: [(&str, &Option<Spanned<i64>>, i64, i64); 7] = [
        ("cash_rounding", &p.cash_rounding, 0, 100),
        ("discount_limit_pct", &p.discount_limit_pct, 0, 100),
        ("terminal_timeout_s", &p.terminal_timeout_s, 5, 600),
        ("offline_card_limit", &p.offline_card_limit, 0, 100_000_000),
        (
            "offline_card_total",
            &p.offline_card_total,
            0,
            1_000_000_000,
        ),
        ("offline_card_hours", &p.offline_card_hours, 1, 24 * 14),
        ("return_days", &p.return_days, 0, 3650),
    ];
    for (key, v, lo, hi) in ranges {
        if let Some(v) = v {
            let n = *v.get_ref();
            if n < lo || n > hi {
                out.push((
                    v.span(),
                    format!("{key} = {n} must be between {lo} and {hi}"),
                ));
            }
        }
    }
    if let (Some(limit), Some(total)) = (&p.offline_card_limit, &p.offline_card_total) {
        if total.get_ref() < limit.get_ref() {
            out.push((
                total.span(),
                format!(
                    "offline_card_total = {} is below offline_card_limit = {}: no offline card payment could be taken",
                    total.get_ref(),
                    limit.get_ref()
                ),
            ));
        }
    }
    for (key, lines) in [
        ("receipt_header", &p.receipt_header),
        ("receipt_footer", &p.receipt_footer),
    ] {
        let Some(lines) = lines else { continue };
        if lines.get_ref().len() > 8 {
            out.push((lines.span(), format!("{key} has more than 8 lines")));
        }
        for l in lines.get_ref() {
            if l.chars().count() > RECEIPT_COLUMNS || l.chars().any(char::is_control) {
                out.push((
                    lines.span(),
                    format!(
                        "{key} line \"{l}\" must be at most {RECEIPT_COLUMNS} printable characters"
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    const SITE: &str = "[site]\nid = \"st-14\"\ntimezone = \"UTC\"\ndata_dir = \"/tmp/x\"\n";

    #[test]
    fn the_documented_register_parses_with_its_defaults() {
        let text = format!(
            "{SITE}[[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
             [stations.pos]\nprices_include_tax = false\ncash_rounding = 5\ndiscount_limit_pct = 10\n\
             receipt_header = [\"Acme Store #14\", \"12 Main St, Springfield\"]\n\
             [[stations]]\nid = \"pos-2\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"CAD\"\n"
        );
        let cfg = parse("edge.toml", &text).expect("valid");
        let regs = cfg.registers();
        assert_eq!(regs.len(), 2);
        assert_eq!(
            (regs[0].cash_rounding, regs[0].receipt_header.len()),
            (5, 2)
        );
        assert_eq!(
            (
                regs[1].currency.as_str(),
                regs[1].terminal_timeout_s,
                regs[1].offline_card_limit,
                regs[1].return_days
            ),
            ("CAD", 120, 10_000, 30),
            "defaults without [stations.pos]"
        );
    }

    #[test]
    fn register_mistakes_are_reported_on_their_lines() {
        let text = format!(
            "{SITE}[[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"usd\"\n\
             [stations.pos]\ncash_rounding = 500\noffline_card_limit = 10000\noffline_card_total = 500\n\
             [[stations]]\nid = \"pack-1\"\nkind = \"pack\"\ncurrency = \"USD\"\n\
             [[stations]]\nid = \"pos-2\"\nkind = \"pos\"\n"
        );
        let err = parse("edge.toml", &text).expect_err("invalid").to_string();
        for want in [
            "edge.toml:10: currency \"usd\" must be an ISO 4217 code like USD",
            "edge.toml:12: cash_rounding = 500 must be between 0 and 100",
            "edge.toml:14: offline_card_total = 500 is below offline_card_limit = 10000",
            "edge.toml:18: currency is for pos stations; station \"pack-1\" is not one",
            "edge.toml:20: pos station \"pos-2\" needs tenant_id",
            "edge.toml:20: pos station \"pos-2\" needs currency",
        ] {
            assert!(err.contains(want), "missing {want:?} in:\n{err}");
        }
    }

    #[test]
    fn an_unknown_register_key_suggests_the_right_one() {
        let text = format!(
            "{SITE}[[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
             [stations.pos]\ncash_roundng = 5\n"
        );
        let err = parse("edge.toml", &text).expect_err("invalid").to_string();
        assert!(
            err.contains("edge.toml:12: unknown key \"cash_roundng\"")
                && err.contains("cash_rounding"),
            "{err}"
        );
    }
}
