//! Built-in sample data for `wms-edge label sample <kind>`, also the inputs of the golden tests.

use crate::error::{Error, Result};
use serde_json::{json, Value};

/// Every label kind this crate renders, in the order `label sample` lists them.
pub const KINDS: &[&str] = &[
    "shipping",
    "carton",
    "product",
    "location",
    "tote",
    "packing_slip",
    "receipt",
    "report",
];

fn from_address() -> Value {
    json!({"name": "Fulfilment Centre East", "company": "Northwind Logistics", "street1": "12 Dock Road",
           "street2": "Unit 4", "city": "Newark", "region": "NJ", "postal_code": "07114", "country": "US"})
}

/// Sample data for `kind`.
pub fn sample_data(kind: &str) -> Result<Value> {
    Ok(match kind {
        "shipping" => json!({
            "order_id": "SO-1001",
            "tracking_number": "1Z999AA10123456784",
            "carrier": "UPS",
            "service": "Ground 2-Day",
            "sscc": "106141411234567897",
            "ship_from": from_address(),
            "ship_to": {"name": "Zoë O'Brien-Müller", "company": "", "street1": "500 Market St",
                        "street2": "Apt 3^B", "city": "San Francisco", "region": "CA",
                        "postal_code": "94105", "country": "US"},
            "weight": {"value": "2.35", "unit": "kg"},
            "carton": {"index": 1, "count": 2}
        }),
        "carton" => json!({
            "sscc": "106141411234567897",
            "ship_from": from_address(),
            "ship_to": {"name": "Store 0042", "street1": "1 Main St", "city": "Austin", "region": "TX",
                        "postal_code": "78701", "country": "US"},
            "content_gtin": "10614141000019",
            "count": 24,
            "batch": "LOT-2026-11",
            "best_before": "2027-03-31",
            "gross_weight_kg": "12.5",
            "order_number": "PO-77812"
        }),
        "product" => json!({
            "gtin": "09501101530003",
            "description": "Organic green tea, 20 bags",
            "sku": "TEA-GREEN-20",
            "lot": "A1234",
            "expiry": "2027-03-31",
            "symbol": "gs1-128"
        }),
        "location" => json!({"code": "A-03-2", "description": "Aisle A, bay 3, level 2"}),
        "tote" => json!({"id": "T-0042", "description": "Pick tote"}),
        "packing_slip" => json!({
            "order_id": "SO-1001",
            "order_date": "2026-11-21",
            "merchant_name": "Northwind Market",
            "ship_to": {"name": "Zoë O'Brien-Müller", "street1": "500 Market St", "city": "San Francisco",
                        "region": "CA", "postal_code": "94105", "country": "US"},
            "lines": [
                {"sku": "TSHIRT-M", "name": "T-shirt, medium", "qty": 2},
                {"sku": "TEA-GREEN-20", "name": "Organic green tea", "qty": 1}
            ],
            "branding": {"white_label": true, "brand_name": "Café Lumière",
                         "gift_message": "Happy birthday! ~ Sam", "notes": "Leave at the front desk.",
                         "footer": "Returns within 30 days"},
            "paper_mm": 80
        }),
        "receipt" => json!({
            "receipt_number": "R-0042-000123",
            "paper_mm": 80,
            "store": {"name": "Northwind Market", "lines": ["500 Market St", "San Francisco, CA 94105"],
                      "tax_id": "VAT 123456789"},
            "header": ["Welcome!"],
            "cashier": "Alex",
            "register": "POS-1",
            "timestamp": "2026-11-21 14:03",
            "currency": "USD",
            "lines": [
                {"name": "T-shirt, medium", "qty": 2, "unit_price": "12.50", "total": "25.00"},
                {"name": "Crème brûlée mug", "qty": 1, "unit_price": "9.00", "total": "9.00",
                 "discount": {"label": "Mug promo 10%", "amount": "0.90"}}
            ],
            "discounts": [{"label": "Member 5%", "amount": "1.66"}],
            "subtotal": "31.44",
            "taxes": [{"label": "Sales tax 8.625%", "amount": "2.71"}],
            "total": "34.15",
            "tenders": [
                {"kind": "card", "amount": "20.00", "card": {"brand": "VISA", "masked_pan": "411111******1111", "auth_code": "A1B2C3"}},
                {"kind": "cash", "amount": "20.00"}
            ],
            "change": "5.85",
            "footer": ["Thank you for shopping with us", "Returns within 30 days"],
            "barcode": "code128"
        }),
        "report" => json!({
            "kind": "z",
            "number": 118,
            "paper_mm": 80,
            "store": {"name": "Northwind Market", "lines": ["500 Market St"]},
            "register": "POS-1",
            "opened_at": "2026-11-21 08:00",
            "closed_at": "2026-11-21 20:05",
            "cashier": "Alex",
            "counts": {"sales": 142, "refunds": 3, "voids": 2, "no_sales": 5},
            "gross": "4120.55",
            "discounts": "88.10",
            "refunds": "45.00",
            "net": "3987.45",
            "taxes": [{"label": "Sales tax 8.625%", "amount": "316.60"}],
            "tenders": [{"kind": "card", "amount": "3100.00", "count": 120},
                        {"kind": "cash", "amount": "887.45", "count": 22}],
            "cash": {"opening": "200.00", "expected": "1087.45", "counted": "1085.00", "difference": "-2.45"}
        }),
        other => {
            return Err(Error::UnknownKind(other.to_string(), KINDS.join(", ")));
        }
    })
}
