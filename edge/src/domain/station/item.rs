//! Reading a scan as a product: which catalog codes to look up, and the lot, expiry and serial a
//! GS1 element string carries with it.

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
    /// The scanned text, for prompts ("Unknown barcode …").
    pub shown: String,
}

/// The scan as a product scan, or `None` when it is a site code, an SSCC or a GS1 string without a
/// GTIN (none of which names a product).
pub fn read_item(scan: &Scan) -> Option<ItemRead> {
    let element = |ai: &str| {
        scan.elements
            .iter()
            .find(|e| e.ai == ai)
            .map(|e| e.value.clone())
    };
    let codes = match scan.kind {
        Kind::Gs1 => vec![scan.gtin.clone()?],
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
        shown: scan.gtin.clone().unwrap_or_else(|| scan.data.clone()),
        codes,
        lot: element("10"),
        expiry,
        serial: element("21"),
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
