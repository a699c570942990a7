//! Reading a scan as a product: which catalog codes to look up, and the lot, expiry, serial and
//! count a GS1 element string carries with it.
//!
//! **The catalog first.** A code the tenant's catalog knows verbatim, as a barcode or a SKU, is
//! that product, whatever GS1 would make of it (a SKU printed as `0112345678901231` stays that
//! SKU, and carries no lot). Otherwise the GS1 reading decides: the GTIN (AI 01, or AI 02 on a
//! logistic unit's label, whose AI 37 says how many units the scan stands for), the lot (10),
//! the expiry (17) and the serial (21). A scan that breaks the GS1 rules names no product unless
//! the catalog knows it verbatim; its reason is the prompt.

use wms_labels::scan::{Kind, Scan};

use super::view::{FloorView, ProductView};

/// What an item scan says about the unit in the operator's hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRead {
    /// Codes to look up in the catalog, most specific first.
    pub codes: Vec<String>,
    /// GS1 AI 10.
    pub lot: Option<String>,
    /// GS1 AI 17 as an ISO date.
    pub expiry: Option<String>,
    /// GS1 AI 21.
    pub serial: Option<String>,
    /// Units the scan stands for: AI 37 on a logistic unit's label, else 1.
    pub count: u32,
    /// The scanned text, for prompts ("Unknown barcode …").
    pub shown: String,
    /// Why the scan is not a valid GS1 code, when it is not (then only the catalog can name it).
    pub invalid: Option<String>,
}

impl ItemRead {
    /// A code the catalog knows verbatim: nothing but the code.
    fn catalog_code(code: &str) -> Self {
        ItemRead {
            codes: vec![code.to_string()],
            lot: None,
            expiry: None,
            serial: None,
            count: 1,
            shown: code.to_string(),
            invalid: None,
        }
    }

    /// The prompt when no product answers to the scan.
    pub fn not_found(&self) -> String {
        match &self.invalid {
            Some(why) => format!("Invalid barcode ({why}) — scan another label"),
            None => format!("Unknown barcode {}", self.shown),
        }
    }
}

/// The scan's GS1 (or plain) reading, or `None` when it is a site code, an SSCC or a GS1 string
/// without a GTIN (none of which names a product). Not consulting the catalog: see
/// [`identify`].
pub fn read_item(scan: &Scan) -> Option<ItemRead> {
    let element = |ai: &str| scan.element(ai).map(str::to_string);
    let content = scan.content.as_ref();
    let codes = match scan.kind {
        Kind::Gs1 => vec![scan
            .gtin
            .clone()
            .or_else(|| content.map(|c| c.gtin.clone()))?],
        Kind::Gtin | Kind::UpcE => {
            let mut codes: Vec<String> = scan.gtin.iter().cloned().collect();
            if !codes.contains(&scan.data) {
                codes.push(scan.data.clone());
            }
            codes
        }
        Kind::Unknown => vec![scan.data.clone()],
        _ => return None,
    };
    let expiry = scan
        .dates
        .iter()
        .find(|(ai, _)| ai == "17")
        .map(|(_, date)| date.clone());
    Some(ItemRead {
        shown: scan
            .gtin
            .clone()
            .or_else(|| content.map(|c| c.gtin.clone()))
            .unwrap_or_else(|| scan.data.clone()),
        codes,
        lot: element("10"),
        expiry,
        serial: element("21"),
        count: content.and_then(|c| c.count).unwrap_or(1).max(1),
        invalid: (!scan.ok()).then(|| scan.reason()),
    })
}

/// The products an item scan can be, among the tenants `visible` admits, without duplicates.
pub fn products_for(
    view: &impl FloorView,
    item: &ItemRead,
    visible: impl Fn(&str) -> bool,
) -> Vec<ProductView> {
    let mut found: Vec<ProductView> = Vec::new();
    for code in &item.codes {
        for product in view.products_by_code(code) {
            let duplicate = found
                .iter()
                .any(|p| p.tenant_id == product.tenant_id && p.sku == product.sku);
            if visible(&product.tenant_id) && !duplicate {
                found.push(product);
            }
        }
    }
    found
}

/// What an item scan names, the catalog first (see the module docs): the reading and the
/// products (empty when none answers), or `None` when the scan is not a product scan at all.
pub fn identify(
    view: &impl FloorView,
    scan: &Scan,
    visible: impl Fn(&str) -> bool,
) -> Option<(ItemRead, Vec<ProductView>)> {
    if !super::is_item(scan) {
        return None;
    }
    if scan.kind != Kind::Unknown && !scan.data.is_empty() {
        let verbatim = ItemRead::catalog_code(&scan.data);
        let products = products_for(view, &verbatim, &visible);
        if !products.is_empty() {
            return Some((verbatim, products));
        }
    }
    let item = read_item(scan)?;
    if item.invalid.is_some() {
        return Some((item, Vec::new()));
    }
    let products = products_for(view, &item, visible);
    Some((item, products))
}

/// Whether some catalog (of any tenant) knows the scanned text verbatim: a scan that breaks the
/// GS1 rules is still that product's barcode then, and goes on to the workflow.
pub fn known_verbatim(view: &impl FloorView, scan: &Scan) -> bool {
    !scan.data.is_empty() && !view.products_by_code(&scan.data).is_empty()
}
