//! The rules a value in a request follows, each stated once: the check the node runs and the JSON
//! Schema the OpenAPI document states it with are made from the same data, and property tests hold
//! each schema's pattern to its check. A field names its rule in its schema attribute
//! (`#[schema(value_type = rules::Ident)]`), which puts the rule in the document as a named schema.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;

/// Inclusive character ranges.
pub type Ranges = &'static [(char, char)];

/// Control characters (Unicode general category Cc, what `char::is_control` means).
pub const CONTROL: Ranges = &[('\u{0}', '\u{1f}'), ('\u{7f}', '\u{9f}')];

/// Control characters but the line feed, which free text may hold.
pub const CONTROL_BUT_NEWLINE: Ranges = &[
    ('\u{0}', '\u{9}'),
    ('\u{b}', '\u{1f}'),
    ('\u{7f}', '\u{9f}'),
];

/// White space (the Unicode property, what `char::is_whitespace` and `str::trim` mean).
pub const WHITESPACE: Ranges = &[
    ('\u{9}', '\u{d}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// What an identifier may not hold: `/`, white space and control characters. Identifiers end up
/// in aggregate ids (`tenant/sku/location/lot`), barcodes and URLs.
pub const NOT_IN_IDENT: Ranges = &[
    ('\u{0}', ' '),
    ('/', '/'),
    ('\u{7f}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

fn within(ranges: Ranges, c: char) -> bool {
    ranges.iter().any(|&(a, b)| (a..=b).contains(&c))
}

/// A rule on a string: its length in characters, the characters it may not hold, and whether it
/// needs one that is not white space.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub min: usize,
    pub max: usize,
    pub forbidden: Ranges,
    /// How the forbidden characters are named in a refusal.
    pub forbidden_are: &'static str,
    /// At least one character that is not white space: a name, not blanks.
    pub visible: bool,
    /// A character it must hold somewhere (the `@` of an email address).
    pub must_hold: Option<char>,
}

/// 1 to 128 characters without `/`, white space or control characters.
pub const IDENT: Text = Text {
    min: 1,
    max: 128,
    forbidden: NOT_IN_IDENT,
    forbidden_are: "'/', spaces or control characters",
    visible: false,
    must_hold: None,
};

/// Free text of at most `max` characters; line feeds allowed, other control characters not.
pub const fn text(max: usize) -> Text {
    Text {
        min: 0,
        max,
        forbidden: CONTROL_BUT_NEWLINE,
        forbidden_are: "control characters",
        visible: false,
        must_hold: None,
    }
}

/// A name: free text with something in it besides white space.
pub const fn name(max: usize) -> Text {
    Text {
        min: 1,
        max,
        forbidden: CONTROL_BUT_NEWLINE,
        forbidden_are: "control characters",
        visible: true,
        must_hold: None,
    }
}

/// One line of printable characters, `min` to `max` of them.
pub const fn line(min: usize, max: usize) -> Text {
    Text {
        min,
        max,
        forbidden: CONTROL,
        forbidden_are: "control characters",
        visible: false,
        must_hold: None,
    }
}

/// Anything with a character that is not white space, of at most `max` characters.
pub const fn not_blank(max: usize) -> Text {
    Text {
        min: 1,
        max,
        forbidden: &[],
        forbidden_are: "",
        visible: true,
        must_hold: None,
    }
}

impl Text {
    /// The same rule, needing a character that is not white space.
    pub const fn visible(self) -> Text {
        Text {
            visible: true,
            ..self
        }
    }

    /// The same rule, needing `c` somewhere.
    pub const fn holding(self, c: char) -> Text {
        Text {
            must_hold: Some(c),
            ..self
        }
    }

    /// `Err(why)` when `v` breaks the rule.
    pub fn check(&self, v: &str) -> Result<(), String> {
        let n = v.chars().count();
        if n < self.min {
            return Err(if self.min == 1 {
                "must not be empty".into()
            } else {
                format!("must be at least {} characters", self.min)
            });
        }
        if n > self.max {
            return Err(format!("must be at most {} characters", self.max));
        }
        if v.chars().any(|c| within(self.forbidden, c)) {
            return Err(format!("must not contain {}", self.forbidden_are));
        }
        if self.visible && v.chars().all(|c| within(WHITESPACE, c)) {
            return Err("must not be blank".into());
        }
        if let Some(c) = self.must_hold {
            if !v.contains(c) {
                return Err(format!("must contain '{c}'"));
            }
        }
        Ok(())
    }

    /// The check as a crate error naming `field`.
    pub fn check_field(&self, field: &str, v: &str) -> crate::error::Result<()> {
        self.check(v)
            .map_err(|why| crate::error::Error::validation(field, why))
    }

    /// The pattern the document states (besides `minLength` and `maxLength`).
    pub fn pattern(&self) -> String {
        let allowed = if self.forbidden.is_empty() {
            String::from(r"[\s\S]")
        } else {
            negated(&[self.forbidden])
        };
        match (self.must_hold, self.visible) {
            (Some(c), _) if !within(WHITESPACE, c) => {
                format!("^{allowed}*{}{allowed}*$", escape(c))
            }
            (_, true) => {
                let seen = negated(&[self.forbidden, WHITESPACE]);
                format!("^{allowed}*{seen}{allowed}*$")
            }
            _ => format!("^{allowed}*$"),
        }
    }

    /// The JSON Schema of a string following the rule.
    pub fn schema(&self, description: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .min_length((self.min > 0).then_some(self.min))
            .max_length((self.max < usize::MAX).then_some(self.max))
            .pattern(Some(self.pattern()))
            .description(Some(description))
            .into()
    }
}

/// A regular-expression character class of everything outside `sets`.
fn negated(sets: &[Ranges]) -> String {
    let mut class = String::from("[^");
    for &(a, b) in sets.iter().flat_map(|s| s.iter()) {
        class.push_str(&escape(a));
        if a != b {
            class.push('-');
            class.push_str(&escape(b));
        }
    }
    class.push(']');
    class
}

/// `\uXXXX`, which ECMA-262, Python and Rust regular expressions read alike.
fn escape(c: char) -> String {
    format!("\\u{:04X}", u32::from(c))
}

/// A rule stated as a regular expression (anchored), with the check that enforces it.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    pub regex: &'static str,
    /// What a value must be, for a refusal ("must be …").
    pub must_be: &'static str,
    pub check: fn(&str) -> bool,
}

impl Pattern {
    pub fn check_field(&self, field: &str, v: &str) -> crate::error::Result<()> {
        if (self.check)(v) {
            Ok(())
        } else {
            Err(crate::error::Error::validation(
                field,
                format!("must be {}", self.must_be),
            ))
        }
    }

    pub fn schema(&self, description: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some(self.regex))
            .description(Some(description))
            .into()
    }
}

fn digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A non-negative decimal written out: up to 12 digits, and up to 6 decimals after a point.
pub const DECIMAL: Pattern = Pattern {
    regex: r"^[0-9]{1,12}(\.[0-9]{1,6})?$",
    must_be: "a decimal string like \"2.500\"",
    check: |s| match s.split_once('.') {
        None => digits(s, 1, 12),
        Some((int, frac)) => digits(int, 1, 12) && digits(frac, 1, 6),
    },
};

/// An ISO 4217 currency code.
pub const CURRENCY: Pattern = Pattern {
    regex: "^[A-Z]{3}$",
    must_be: "an ISO 4217 code like USD",
    check: |s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()),
};

/// A floor user's PIN as set by an admin.
pub const PIN: Pattern = Pattern {
    regex: "^[0-9]{4,12}$",
    must_be: "4 to 12 digits",
    check: |s| digits(s, 4, 12),
};

/// White space as a regular-expression class (what `str::trim` removes).
macro_rules! ws {
    () => {
        r"[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    };
}

/// A percent written out (white space around it ignored): up to 6 digits, and up to 6 decimals
/// after a point. What [`crate::domain::pos::Percent::parse`] reads.
pub const PERCENT: Pattern = Pattern {
    regex: concat!("^", ws!(), r"*[0-9]{1,6}(\.[0-9]{1,6})?", ws!(), "*$"),
    must_be: "a decimal percent like \"8.875\"",
    check: |s| crate::domain::pos::Percent::parse(s).is_ok(),
};

/// [`PERCENT`] of at most 100.
pub const PERCENT_100: Pattern = Pattern {
    regex: concat!(
        "^",
        ws!(),
        r"*(0{0,3}100(\.0{1,6})?|0{0,4}[0-9]{1,2}(\.[0-9]{1,6})?)",
        ws!(),
        "*$"
    ),
    must_be: "a decimal percent from 0 to 100",
    check: |s| {
        crate::domain::pos::Percent::parse(s)
            .is_ok_and(|p| p <= crate::domain::pos::Percent::whole(100))
    },
};

/// Declares a type that stands for a rule in the document: its schema is the rule's.
macro_rules! rule_schema {
    ($(#[$doc:meta])* $name:ident, $rule:expr, $description:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $rule.schema($description)
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

rule_schema!(
    /// [`IDENT`] in the document.
    Ident,
    IDENT,
    "An identifier: 1 to 128 characters, without '/', white space or control characters."
);
rule_schema!(
    /// A name of up to 200 characters in the document.
    Name200,
    name(200),
    "A name: 1 to 200 characters, not all white space; no control characters but line feeds."
);
rule_schema!(
    /// A short label (zones, channels, carriers) in the document.
    Text64,
    text(64),
    "Free text of up to 64 characters; no control characters but line feeds."
);
rule_schema!(
    /// Free text of up to 200 characters in the document.
    Text200,
    text(200),
    "Free text of up to 200 characters; no control characters but line feeds."
);
rule_schema!(
    /// Free text of up to 500 characters in the document.
    Text500,
    text(500),
    "Free text of up to 500 characters; no control characters but line feeds."
);
rule_schema!(
    /// Free text of up to 2000 characters in the document.
    Text2000,
    text(2000),
    "Free text of up to 2000 characters; no control characters but line feeds."
);
rule_schema!(
    /// A barcode as scanned, in the document.
    Barcode,
    line(1, 128),
    "A barcode: 1 to 128 characters, no control characters."
);
rule_schema!(
    /// [`not_blank`] without a limit in the document.
    NotBlank,
    not_blank(usize::MAX),
    "Any text with a character that is not white space."
);
rule_schema!(
    /// A search of up to 64 characters in the document.
    Search64,
    not_blank(64),
    "What to look for: 1 to 64 characters, not all white space."
);
rule_schema!(
    /// A search of up to 128 characters in the document.
    Search128,
    not_blank(128),
    "What to look for: 1 to 128 characters, not all white space."
);
rule_schema!(
    /// [`DECIMAL`] in the document.
    Decimal,
    DECIMAL,
    "A non-negative decimal as a string: up to 12 digits, optionally a point and up to 6 decimals."
);
rule_schema!(
    /// [`CURRENCY`] in the document.
    Currency,
    CURRENCY,
    "An ISO 4217 currency code."
);
rule_schema!(
    /// [`PIN`] in the document.
    Pin,
    PIN,
    "A PIN: 4 to 12 digits."
);
rule_schema!(
    /// [`PERCENT`] in the document.
    PercentText,
    PERCENT,
    "A percent as a string: up to 6 digits, optionally a point and up to 6 decimals."
);
rule_schema!(
    /// [`PERCENT_100`] in the document.
    Percent100Text,
    PERCENT_100,
    "A percent from 0 to 100 as a string, with up to 6 decimals."
);

/// A percent of 0 to 100 as a request may send it: [`PERCENT_100`] as a string, or a JSON number
/// with at most six decimals (read from its shortest decimal form, never rounded).
pub struct Percent100;

impl utoipa::PartialSchema for Percent100 {
    fn schema() -> RefOr<Schema> {
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(PERCENT_100.schema("A decimal percent as a string."))
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Number))
                    .minimum(Some(0))
                    .maximum(Some(100))
                    .multiple_of(Some(0.000001))
                    .description(Some("A JSON number with at most six decimals.")),
            )
            .description(Some(
                "A percent from 0 to 100: a decimal string or a number.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Percent100 {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Percent100")
    }
}

/// Declares a type that stands for a whole-number range in the document, with its check.
macro_rules! int_rule {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr, $description:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl $name {
            pub const MIN: i64 = $min;
            pub const MAX: i64 = $max;

            pub fn contains(v: i64) -> bool {
                (Self::MIN..=Self::MAX).contains(&v)
            }

            pub fn check_field(field: &str, v: i64) -> crate::error::Result<()> {
                if Self::contains(v) {
                    Ok(())
                } else {
                    Err(crate::error::Error::validation(
                        field,
                        format!("must be {} to {}", Self::MIN, Self::MAX),
                    ))
                }
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Integer))
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Int64,
                    )))
                    .minimum(Some(Self::MIN as f64))
                    .maximum(Some(Self::MAX as f64))
                    .description(Some($description))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

int_rule!(
    /// Units on a till line or a return line.
    TillQty,
    1,
    9999,
    "Units on a till line: 1 to 9999."
);
int_rule!(
    /// Units on an order line.
    OrderQty,
    1,
    1_000_000,
    "Units on an order line: 1 to 1000000."
);
int_rule!(
    /// How long to wait for a stable weight.
    TimeoutMs,
    1,
    60_000,
    "Milliseconds to wait: 1 to 60000."
);
int_rule!(
    /// How long a long poll may wait.
    WaitSeconds,
    0,
    30,
    "Seconds to wait: 0 to 30."
);

/// A count of units that must not be zero (an adjustment that changes nothing is refused).
pub struct NonZero;

impl utoipa::PartialSchema for NonZero {
    fn schema() -> RefOr<Schema> {
        let not_zero = utoipa::openapi::extensions::Extensions::from_iter([(
            "not".to_string(),
            serde_json::json!({"const": 0}),
        )]);
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .description(Some("A whole number other than zero."))
            .extensions(Some(not_zero))
            .into()
    }
}

impl utoipa::ToSchema for NonZero {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NonZero")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_character_sets_are_the_unicode_properties() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(within(CONTROL, c), c.is_control(), "{c:?}");
            assert_eq!(within(WHITESPACE, c), c.is_whitespace(), "{c:?}");
            assert_eq!(
                within(NOT_IN_IDENT, c),
                c == '/' || c.is_control() || c.is_whitespace(),
                "{c:?}"
            );
            assert_eq!(
                within(CONTROL_BUT_NEWLINE, c),
                c.is_control() && c != '\n',
                "{c:?}"
            );
        }
    }

    /// Characters on both sides of every edge the rules draw, and some ordinary ones.
    fn edgy_char() -> impl Strategy<Value = char> {
        let edges: Vec<char> = [CONTROL, WHITESPACE, NOT_IN_IDENT]
            .iter()
            .flat_map(|r| r.iter())
            .flat_map(|&(a, b)| {
                [
                    u32::from(a).saturating_sub(1),
                    a.into(),
                    b.into(),
                    u32::from(b) + 1,
                ]
            })
            .filter_map(char::from_u32)
            .chain(['a', 'Z', '0', '.', '-', 'é', '€', '漢', '😀', '\u{feff}'])
            .collect();
        prop::sample::select(edges)
    }

    fn edgy_string() -> impl Strategy<Value = String> {
        prop::collection::vec(edgy_char(), 0..8).prop_map(|v| v.into_iter().collect())
    }

    fn stated(rule: &Text, v: &str) -> bool {
        let re = regex::Regex::new(&rule.pattern()).expect("pattern compiles");
        let n = v.chars().count();
        re.is_match(v) && n >= rule.min && n <= rule.max
    }

    proptest! {
        #[test]
        fn each_text_rule_is_its_schema(v in edgy_string()) {
            let anything = Text { min: 1, max: usize::MAX, forbidden: &[], forbidden_are: "", visible: true, must_hold: None };
            for rule in [IDENT, text(5), name(5), line(1, 5), line(2, 6).visible(), anything, line(1, 6).holding('.')] {
                prop_assert_eq!(rule.check(&v).is_ok(), stated(&rule, &v), "{:?} {:?}", rule, v);
            }
        }

        #[test]
        fn each_pattern_is_its_check(v in "[0-9.A-Za-z ]{0,16}|[ \t]?0{0,4}[0-9]{1,10}(\\.[0-9]{0,8})?\u{3000}?|0{0,5}10[0-9](\\.0{0,7}[0-9]?)?") {
            for p in [DECIMAL, CURRENCY, PIN, PERCENT, PERCENT_100] {
                let re = regex::Regex::new(p.regex).expect("pattern compiles");
                prop_assert_eq!((p.check)(&v), re.is_match(&v), "{} {:?}", p.regex, v);
            }
        }
    }
}
