//! The JSON shapes of label, slip, receipt and report data (what `label render --data` reads).
//! Deserialising into these types is the first validation step; the renderers check the rest.

use serde::Deserialize;

/// A postal address as printed on labels and slips.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Address {
    pub name: String,
    pub company: String,
    pub street1: String,
    pub street2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
    pub phone: String,
}

impl Address {
    /// The printable lines, empty parts skipped.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(6);
        for part in [&self.name, &self.company, &self.street1, &self.street2] {
            if !part.trim().is_empty() {
                out.push(part.clone());
            }
        }
        let mut city_line = self.city.clone();
        if !self.region.is_empty() {
            if !city_line.is_empty() {
                city_line.push_str(", ");
            }
            city_line.push_str(&self.region);
        }
        if !self.postal_code.is_empty() {
            if !city_line.is_empty() {
                city_line.push(' ');
            }
            city_line.push_str(&self.postal_code);
        }
        if !city_line.trim().is_empty() {
            out.push(city_line);
        }
        if !self.country.trim().is_empty() {
            out.push(self.country.clone());
        }
        out
    }
}

/// A weight with its unit, value as a JSON number or decimal string.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Weight {
    pub value: serde_json::Value,
    pub unit: String,
}

/// Which carton of the shipment this is; `count` 0 while the number of cartons is not known yet.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Carton {
    pub index: u32,
    pub count: u32,
}

/// Data of the 4x6 shipping label.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ShippingLabel {
    pub order_id: String,
    pub tracking_number: String,
    pub carrier: String,
    #[serde(default)]
    pub service: String,
    pub sscc: String,
    pub ship_from: Address,
    pub ship_to: Address,
    pub weight: Weight,
    pub carton: Carton,
}

/// Data of the GS1 logistics (carton) label.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CartonLabel {
    pub sscc: String,
    pub ship_from: Address,
    #[serde(default)]
    pub ship_to: Option<Address>,
    /// GTIN of the trade items inside (AI 02).
    #[serde(default)]
    pub content_gtin: Option<String>,
    /// Number of trade items (AI 37).
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub batch: Option<String>,
    /// ISO date (AI 15).
    #[serde(default)]
    pub best_before: Option<String>,
    /// Gross weight in kg as a decimal string (AI 3301–3303).
    #[serde(default)]
    pub gross_weight_kg: Option<String>,
    /// Customer purchase order number (AI 400).
    #[serde(default)]
    pub order_number: Option<String>,
}

/// Data of the product label.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ProductLabel {
    pub gtin: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub lot: Option<String>,
    /// ISO date (AI 17).
    #[serde(default)]
    pub expiry: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    /// `gs1-128` (default) or `datamatrix`.
    #[serde(default)]
    pub symbol: Option<String>,
}

/// Data of a bin location label.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LocationLabel {
    pub code: String,
    #[serde(default)]
    pub description: String,
}

/// Data of a tote or license-plate label.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ToteLabel {
    pub id: String,
    #[serde(default)]
    pub description: String,
}

/// One line of a packing slip.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SlipLine {
    pub sku: String,
    #[serde(default)]
    pub name: String,
    pub qty: u32,
}

/// How the order is branded on the slip.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Branding {
    /// White label: the merchant's brand is printed instead of the network's.
    pub white_label: bool,
    pub brand_name: String,
    pub gift_message: String,
    pub notes: String,
    pub footer: String,
}

/// Data of a packing slip (ZPL or ESC/POS).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PackingSlip {
    pub order_id: String,
    #[serde(default)]
    pub order_date: String,
    #[serde(default)]
    pub merchant_name: String,
    pub ship_to: Address,
    pub lines: Vec<SlipLine>,
    #[serde(default)]
    pub branding: Branding,
    /// ESC/POS paper width in mm (58 or 80).
    #[serde(default)]
    pub paper_mm: Option<u32>,
}
