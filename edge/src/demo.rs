//! `wms-edge demo`: a complete node on embedded defaults. A data dir (temporary unless given), the
//! reference central simulator seeded with two tenants' catalog, locations, users and orders,
//! simulated devices on real ptys and loopback TCP, a generated admin key, and the node itself.
//! Initial stock is received through the node's own HTTP API before the orders are released by
//! the central, so they arrive allocated.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wms_hardware::sim::{
    Action, Behavior, CustomerDisplay, EscPosPrinter, EscPosState, PaymentTerminal, PtySim,
    SicsScale, TcpSim, ZplPrinter, ZplState,
};
use wms_hardware::CancellationToken;
use wms_sync::central_sim::{CentralSim, SimConfig};

use crate::error::{Error, Result};

/// The demo's site id.
pub const SITE: &str = "demo-site";
/// The PIN of every sample user.
pub const DEMO_PIN: &str = "1234";
/// What the simulated scale at the pack station weighs.
pub const DEMO_CARTON_KG: &str = "0.125";
/// The order the banner walks from the central to shipped, and the scans that do it: (scanner,
/// scan, what it does).
pub const WALK_ORDER: &str = "DEMO-1002";
pub const WALK: &[(&str, &str, &str)] = &[
    ("scanner-1", "EMP:1001", "Ada logs in at the pick station"),
    ("scanner-1", "ORD:DEMO-1002", "she picks this order alone"),
    (
        "scanner-1",
        "TOTE:T-1",
        "into tote T-1: the station sends her to A-02-1",
    ),
    ("scanner-1", "LOC:A-02-1", "at the location"),
    ("scanner-1", "00012345600036", "the cap (its GTIN)"),
    ("scanner-1", "CMD:DONE", "tote closed: the order is picked"),
    ("scanner-2", "EMP:1002", "Ben logs in at the pack station"),
    ("scanner-2", "TOTE:T-1", "he takes the tote"),
    (
        "scanner-2",
        "00012345600036",
        "verifies the cap: the scale reads 0.125 kg, the label and slip print",
    ),
    (
        "scanner-2",
        "CMD:DONE",
        "ship confirm: shipment.created goes to the central",
    ),
];
/// The register walk: Cy opens register `pos-1` (the session is opened with her token, as a
/// register screen would), then sells by scans alone at the register's scanner — a card sale on
/// the simulated terminal and a cash sale. (scanner, scan, what it does).
pub const REGISTER_WALK: &[(&str, &str, &str)] = &[
    (
        "register-1",
        "EMP:1003",
        "Cy logs in at register pos-1's scanner",
    ),
    ("register-1", "PIN:1234", "with her PIN"),
    (
        "register-1",
        "00012345600012",
        "a T-shirt: the customer display shows it",
    ),
    ("register-1", "QTY:2", "two of the next item"),
    ("register-1", "00012345600029", "two mugs"),
    (
        "register-1",
        "CMD:CARD",
        "the card terminal approves; the outcome arrives on /v1/events",
    ),
    ("register-1", "00012345600036", "the next customer: a cap"),
    (
        "register-1",
        "CMD:CASH",
        "exact cash: the receipt prints and the drawer opens",
    ),
];
/// How long start-up may take before the demo gives up.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// What `wms-edge demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Listen address of the HTTP API (port 0 picks one).
    pub listen: String,
    /// Data dir; `None` = a new temporary directory.
    pub data_dir: Option<PathBuf>,
    /// Keep a temporary data dir on exit.
    pub keep: bool,
}

/// What the demo prints once it is ready.
#[derive(Debug, Clone)]
pub struct Banner {
    /// Base URL of the node.
    pub url: String,
    /// The admin key generated at start.
    pub admin_key: String,
    /// The simulated scanner's pty at the pick station (type scans into it).
    pub scanner_pty: PathBuf,
    /// The simulated scanner's pty at the pack station.
    pub packer_scanner_pty: PathBuf,
    /// The data dir (database, config, printed labels).
    pub data_dir: PathBuf,
    /// Where the label printer simulator's labels are written.
    pub printed_dir: PathBuf,
    /// The file the register's customer display simulator keeps its screen in.
    pub display_screen: PathBuf,
    /// The register's serial scanner pty.
    pub register_scanner_pty: PathBuf,
    /// The central simulator's base URL.
    pub central_url: String,
    /// Whether the data dir is removed on exit.
    pub temporary: bool,
}

impl fmt::Display for Banner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.url;
        writeln!(f, "wms-edge demo is running")?;
        writeln!(f, "  url:         {u}")?;
        writeln!(f, "  admin key:   {}", self.admin_key)?;
        writeln!(f, "  scanner pty: {}", self.scanner_pty.display())?;
        writeln!(f, "  central sim: {}", self.central_url)?;
        writeln!(
            f,
            "  data dir:    {}{}",
            self.data_dir.display(),
            if self.temporary {
                " (removed on exit; --keep keeps it)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "  labels:      the label printer simulator writes each label it receives to {}",
            self.printed_dir.display()
        )?;
        writeln!(
            f,
            "  display:     {} (what the customer display at register pos-1 shows; watch -n 0.5 cat it while selling)",
            self.display_screen.display()
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "Tenants acme and globex; users ada (picker), ben (packer), cy (cashier), dee (supervisor), PIN {DEMO_PIN}."
        )?;
        writeln!(
            f,
            "Screens (open them in a browser and log in with the badge and PIN {DEMO_PIN}):"
        )?;
        for (path, who) in SCREENS {
            writeln!(f, "  {u}{path:<22} {who}")?;
        }
        writeln!(f, "What to try:")?;
        writeln!(f, "  export KEY={}", self.admin_key)?;
        let auth_env = "-H \"Authorization: Bearer $KEY\"";
        for (what, cmd) in [
            ("health", format!("curl -s {u}/health")),
            ("devices", format!("curl -s {auth_env} {u}/v1/devices")),
            (
                "inventory",
                format!("curl -s {auth_env} '{u}/v1/inventory?tenant_id=acme'"),
            ),
            (
                "orders from the central (allocated, one on hold)",
                format!("curl -s {auth_env} {u}/v1/orders"),
            ),
            (
                "a stable weight from the scale",
                format!("curl -s {auth_env} {u}/v1/devices/scale-1/weight"),
            ),
            (
                "a test label on the ZPL printer",
                format!("curl -s -X POST {auth_env} {u}/v1/devices/label-1/test-print"),
            ),
            (
                "the live event stream (keep it open in another terminal)",
                format!("curl -N {auth_env} {u}/v1/events"),
            ),
            (
                "a scan sent over HTTP (as a handheld would)",
                format!(
                    "curl -s -X POST {auth_env} -H 'Content-Type: application/json' -d '{{\"device_id\":\"scanner-1\",\"data\":\"LOC:A-01-1\"}}' {u}/v1/scans"
                ),
            ),
            (
                "type a scan on the serial scanner (shows up on /v1/events)",
                format!("printf 'LOC:A-01-1\\r' > {}", self.scanner_pty.display()),
            ),
            (
                "the scanner sits at station pick-1: log in as Ada with her badge",
                format!("printf 'EMP:1001\\r' > {}", self.scanner_pty.display()),
            ),
            (
                "sync with the central (queue drains to 0)",
                format!("curl -s {auth_env} {u}/v1/sync/status"),
            ),
        ] {
            writeln!(f, "  # {what}")?;
            writeln!(f, "  {cmd}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "Walk order {WALK_ORDER} from the central to shipped (each answer's prompt is what the operator hears;\n  the scale's reading and \"label printed\" arrive as a `station` event on /v1/events):"
        )?;
        writeln!(
            f,
            "  scan() {{ curl -s -X POST {auth_env} -H 'Content-Type: application/json' -d \"{{\\\"device_id\\\":\\\"$1\\\",\\\"data\\\":\\\"$2\\\"}}\" {u}/v1/scans; echo; }}"
        )?;
        for (device, data, what) in WALK {
            writeln!(f, "  scan {device} {data:<16} # {what}")?;
        }
        writeln!(
            f,
            "  curl -s {auth_env} {u}/v1/orders/{WALK_ORDER}   # shipped, with its carton's tracking number and SSCC"
        )?;
        writeln!(
            f,
            "  (typing the same scans into the scanners' ptys works too: scanner-1 is {}, scanner-2 is {})",
            self.scanner_pty.display(),
            self.packer_scanner_pty.display()
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "Sell at register pos-1 (receipts are appended to {}/receipts.txt):",
            self.printed_dir.display()
        )?;
        writeln!(
            f,
            "  T=$(curl -s -X POST -H 'Content-Type: application/json' -d '{{\"badge\":\"1003\",\"pin\":\"{DEMO_PIN}\"}}' {u}/v1/sessions | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')"
        )?;
        writeln!(
            f,
            "  curl -s -X POST -H \"Authorization: Bearer $T\" -H 'Content-Type: application/json' -d '{{\"opening_float\":10000}}' {u}/v1/pos/registers/pos-1/sessions   # Cy opens the drawer with 100.00"
        )?;
        for (device, data, what) in REGISTER_WALK {
            writeln!(f, "  scan {device} {data:<16} # {what}")?;
        }
        writeln!(
            f,
            "  curl -s {auth_env} '{u}/v1/pos/sales?register=pos-1'   # both sales, the card's masked number and approval code"
        )?;
        let bearer = "-H \"Authorization: Bearer $T\" -H 'Content-Type: application/json'";
        writeln!(f, "Then the cap comes back, and Cy closes the day:")?;
        writeln!(
            f,
            "  S=$(curl -s {bearer} '{u}/v1/pos/sales?register=pos-1&limit=1' | sed 's/.*\"data\":\\[{{\"id\":\"\\([^\"]*\\)\".*/\\1/')   # the newest sale: the cap"
        )?;
        writeln!(
            f,
            "  curl -s -X POST {bearer} -d '{{\"lines\":[{{\"line_id\":\"L1\",\"qty\":1}}],\"reason\":\"changed mind\"}}' {u}/v1/pos/sales/$S/refunds   # cash back, a REFUND receipt"
        )?;
        writeln!(
            f,
            "  X=$(curl -s {bearer} {u}/v1/pos/registers/pos-1 | sed 's/.*\"session\":{{\"id\":\"\\([^\"]*\\)\".*/\\1/')"
        )?;
        writeln!(
            f,
            "  curl -s {bearer} {u}/v1/pos/sessions/$X   # the X report: 100.00 expected in the drawer"
        )?;
        writeln!(
            f,
            "  curl -s -X POST {bearer} -d '{{\"counted_cash\":10000}}' {u}/v1/pos/sessions/$X/close   # the Z report #1, printed"
        )?;
        writeln!(
            f,
            "  (register-1 is also a serial scanner: {})",
            self.register_scanner_pty.display()
        )?;
        writeln!(f)?;
        write!(f, "Ctrl-C stops everything.")
    }
}

/// A serial scanner whose "laser" is the pty itself: whatever is written to the device path is
/// sent back to the node as a scan, so `printf 'LOC:A-01-1\r' > <pty>` scans.
#[derive(Debug, Default)]
struct Keyboard;

impl Behavior for Keyboard {
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>) -> Action {
        out.extend_from_slice(input);
        Action::Continue
    }
}

struct Sims {
    scanner: PtySim,
    packer_scanner: PtySim,
    register_scanner: PtySim,
    scale: PtySim,
    label: TcpSim,
    label_state: Arc<Mutex<ZplState>>,
    receipt: TcpSim,
    receipt_state: Arc<Mutex<EscPosState>>,
    payment: TcpSim,
    display: PtySim,
}

/// The simulators, their device paths under `dev_dir`; the customer display keeps its screen
/// in `display_screen`.
async fn start_sims(dev_dir: &Path, display_screen: &Path) -> Result<Sims> {
    let hw = |what: &str, e: wms_hardware::Error| Error::Internal(format!("{what} simulator: {e}"));
    std::fs::create_dir_all(dev_dir)
        .map_err(|e| Error::Config(format!("cannot create {}: {e}", dev_dir.display())))?;
    let scanner =
        PtySim::start_at(&dev_dir.join("scanner-1"), Keyboard).map_err(|e| hw("scanner", e))?;
    // A carton holding the cap of DEMO-1002 (0.120 kg in the catalog): the walk's weight check
    // passes; heavier orders show the out-of-tolerance path and the supervisor override.
    let scale = PtySim::start_at(
        &dev_dir.join("scale-1"),
        SicsScale::new(DEMO_CARTON_KG, "kg"),
    )
    .map_err(|e| hw("scale", e))?;
    let packer_scanner =
        PtySim::start_at(&dev_dir.join("scanner-2"), Keyboard).map_err(|e| hw("scanner", e))?;
    let register_scanner =
        PtySim::start_at(&dev_dir.join("register-1"), Keyboard).map_err(|e| hw("scanner", e))?;
    let zpl = ZplPrinter::new();
    let label_state = zpl.state();
    let label = TcpSim::start(zpl)
        .await
        .map_err(|e| hw("label printer", e))?;
    let escpos = EscPosPrinter::new();
    let receipt_state = escpos.state();
    let receipt = TcpSim::start(escpos)
        .await
        .map_err(|e| hw("receipt printer", e))?;
    let payment = TcpSim::start(PaymentTerminal::new())
        .await
        .map_err(|e| hw("payment terminal", e))?;
    let display = PtySim::start_at(
        &dev_dir.join("display-1"),
        CustomerDisplay::new().log_to(display_screen.to_path_buf()),
    )
    .map_err(|e| hw("customer display", e))?;
    Ok(Sims {
        scanner,
        packer_scanner,
        register_scanner,
        scale,
        label,
        label_state,
        receipt,
        receipt_state,
        payment,
        display,
    })
}

fn random_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}

struct Secrets {
    admin_key: String,
    central_key: String,
    signing_secret: String,
    webhook_secret: String,
}

fn toml_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn config_text(
    listen: &str,
    data_dir: &Path,
    sims: &Sims,
    central_url: &str,
    s: &Secrets,
) -> String {
    let dev = |id: &str, kind: &str, profile: &str, station: &str, transport: String| {
        format!(
            "[[devices]]\nid = \"{id}\"\nkind = \"{kind}\"\nprofile = \"{profile}\"\nstation = \"{station}\"\ntransport = {transport}\n\n"
        )
    };
    let tcp = |port: u16| format!("{{ tcp = {{ host = \"127.0.0.1\", port = {port} }} }}");
    let serial = |p: &PtySim| format!("{{ serial = {{ path = {} }} }}", toml_str(&p.path_str()));
    let mut t = format!(
        "# Written by `wms-edge demo`.\n[site]\nid = \"{SITE}\"\ntimezone = \"UTC\"\ndata_dir = {}\n\n\
         [http]\nlisten = {}\n\n\
         [[api_keys]]\nname = \"demo-admin\"\nrole = \"admin\"\nkey = {}\n\n\
         [central]\nurl = {}\napi_key = {}\nsigning_secret = {}\nwebhook_secret = {}\nretry_base_ms = 200\nretry_cap_ms = 2000\n\n\
         [discovery]\nenabled = false\n\n[log]\nlevel = \"warn\"\n\n\
         [[stations]]\nid = \"pick-1\"\nkind = \"pick\"\n\n\
         [[stations]]\nid = \"pack-1\"\nkind = \"pack\"\n\n\
         [[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n         [stations.pos]\nreceipt_header = [\"Acme Demo Store\", \"1 Demo Street, Springfield\"]\n         receipt_footer = [\"Returns within 30 days with receipt\"]\n\n",
        toml_str(&data_dir.display().to_string()),
        toml_str(listen),
        toml_str(&s.admin_key),
        toml_str(central_url),
        toml_str(&s.central_key),
        toml_str(&s.signing_secret),
        toml_str(&s.webhook_secret),
    );
    t.push_str(&dev(
        "scanner-1",
        "scanner",
        "generic-serial-scanner",
        "pick-1",
        serial(&sims.scanner),
    ));
    t.push_str(&dev(
        "scanner-2",
        "scanner",
        "generic-serial-scanner",
        "pack-1",
        serial(&sims.packer_scanner),
    ));
    t.push_str(&dev(
        "scale-1",
        "scale",
        "mettler-toledo-sics",
        "pack-1",
        serial(&sims.scale),
    ));
    t.push_str(&dev(
        "label-1",
        "label_printer",
        "zebra-zpl-203",
        "pack-1",
        tcp(sims.label.port()),
    ));
    t.push_str(&dev(
        "register-1",
        "scanner",
        "generic-serial-scanner",
        "pos-1",
        serial(&sims.register_scanner),
    ));
    t.push_str(&dev(
        "receipt-1",
        "receipt_printer",
        "escpos-80mm",
        "pos-1",
        tcp(sims.receipt.port()),
    ));
    t.push_str(&dev(
        "payment-1",
        "payment_terminal",
        "nexo-terminal",
        "pos-1",
        tcp(sims.payment.port()),
    ));
    t.push_str(&dev(
        "display-1",
        "customer_display",
        "epson-dm-d110",
        "pos-1",
        serial(&sims.display),
    ));
    t
}

/// (tenant, sku, name, barcode, grams, price in cents)
const PRODUCTS: &[(&str, &str, &str, &str, &str, i64)] = &[
    (
        "acme",
        "TSHIRT-M",
        "T-shirt, M",
        "00012345600012",
        "0.250",
        1999,
    ),
    ("acme", "MUG-01", "Mug", "00012345600029", "0.400", 1299),
    ("acme", "CAP-01", "Cap", "00012345600036", "0.120", 1499),
    (
        "globex",
        "WIDGET-S",
        "Widget, small",
        "00098765400011",
        "0.050",
        499,
    ),
    (
        "globex",
        "WIDGET-L",
        "Widget, large",
        "00098765400028",
        "0.900",
        2499,
    ),
];

/// (code, zone, pick sequence, kind)
const LOCATIONS: &[(&str, &str, i64, &str)] = &[
    ("RCV-1", "R", 0, "receiving"),
    ("A-01-1", "A", 10, "pick"),
    ("A-01-2", "A", 20, "pick"),
    ("A-02-1", "A", 30, "pick"),
    ("B-01-1", "B", 40, "pick"),
    ("BULK-1", "Z", 90, "bulk"),
    ("SHIP-1", "S", 99, "shipping"),
    ("STORE", "P", 0, "store"),
];

/// (tenant, sku, location, quantity received)
const STOCK: &[(&str, &str, &str, i64)] = &[
    ("acme", "TSHIRT-M", "A-01-1", 40),
    ("acme", "TSHIRT-M", "BULK-1", 100),
    ("acme", "MUG-01", "A-01-2", 25),
    ("acme", "CAP-01", "A-02-1", 15),
    ("globex", "WIDGET-S", "B-01-1", 200),
    ("globex", "WIDGET-L", "B-01-1", 12),
];

/// The station screens the banner offers, and who logs in there.
pub const SCREENS: &[(&str, &str)] = &[
    (
        "/ui/station/pick-1",
        "Ada, badge 1001 (picker): scan EMP:1001, then a tote",
    ),
    ("/ui/station/pack-1", "Ben, badge 1002 (packer)"),
    (
        "/ui/register/pos-1",
        "Cy, badge 1003 (cashier): open the drawer, scan, take cash or card",
    ),
    (
        "/ui/customer/pos-1",
        "the register's second screen, for the customer (Cy's login)",
    ),
    (
        "/ui/supervisor",
        "Dee, badge 1004 (supervisor): devices, sync, orders, registers",
    ),
];

/// (id, name, badge, roles)
const USERS: &[(&str, &str, &str, &str)] = &[
    ("u-ada", "Ada", "1001", "picker"),
    ("u-ben", "Ben", "1002", "packer"),
    ("u-cy", "Cy", "1003", "cashier"),
    ("u-dee", "Dee", "1004", "supervisor"),
];

/// (order id, tenant, lines)
type OrderSpec = (&'static str, &'static str, &'static [(&'static str, i64)]);
const ORDERS: &[OrderSpec] = &[
    ("DEMO-1001", "acme", &[("TSHIRT-M", 2), ("MUG-01", 1)]),
    ("DEMO-1002", "acme", &[("CAP-01", 1)]),
    ("DEMO-1003", "acme", &[("MUG-01", 3)]),
    ("DEMO-2001", "globex", &[("WIDGET-S", 10), ("WIDGET-L", 1)]),
    ("DEMO-2002", "globex", &[("WIDGET-S", 4)]),
];
/// The order the central puts on hold after releasing it.
pub const HELD_ORDER: &str = "DEMO-1003";

/// The ids of the sample orders (all allocated except [`HELD_ORDER`], which is on hold).
pub fn order_ids() -> impl Iterator<Item = &'static str> {
    ORDERS.iter().map(|o| o.0)
}

async fn seed_central(sim: &CentralSim) -> Result<()> {
    for (tenant, sku, name, barcode, kg, cents) in PRODUCTS {
        sim.push_change(
            "product.upsert",
            json!({"tenant_id": tenant, "sku": sku, "name": name, "barcodes": [barcode],
                   "weight": {"value": kg, "unit": "kg"}, "dimensions": null, "tracking": "none",
                   "price": {"amount": cents, "currency": "USD"}, "price_tiers": [], "tax_code": null,
                   "version": 1}),
        );
    }
    for (code, zone, seq, kind) in LOCATIONS {
        sim.push_change(
            "location.upsert",
            json!({"code": code, "zone": zone, "pick_sequence": seq, "kind": kind, "version": 1}),
        );
    }
    for (id, name, badge, role) in USERS {
        let pin_hash = tokio::task::spawn_blocking(|| crate::pin::hash(DEMO_PIN))
            .await
            .map_err(|e| Error::Internal(format!("pin hash task: {e}")))??;
        sim.push_change(
            "user.upsert",
            json!({"id": id, "tenant_id": null, "name": name, "badge": badge, "pin_hash": pin_hash,
                   "roles": [role], "active": true, "version": 1}),
        );
    }
    Ok(())
}

fn order_object(id: &str, tenant: &str, lines: &[(&str, i64)]) -> Value {
    let now = chrono::Utc::now();
    let lines: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (sku, qty))| json!({"line_id": (i + 1).to_string(), "sku": sku, "qty": qty}))
        .collect();
    json!({"id": id, "tenant_id": tenant, "channel": "web",
           "created_at": crate::domain::time::format(now),
           "ship_by": crate::domain::time::format(now + chrono::Duration::hours(8)),
           "priority": "standard",
           "shipping": {"carrier": "ups", "service": "ground"},
           "ship_to": {"name": "Ada Lovelace", "company": null, "street1": "1 Main St", "street2": null,
                       "city": "Springfield", "region": "IL", "postal_code": "62701", "country": "US",
                       "phone": null},
           "lines": lines, "notes": null, "gift_message": null, "branding": null, "version": 1})
}

/// A minimal HTTP/1.1 request to the node itself; returns the status code.
async fn call(
    addr: SocketAddr,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<u16> {
    let io = |e: std::io::Error| Error::Internal(format!("demo request {method} {path}: {e}"));
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.map_err(io)?;
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp).await.map_err(io)?;
    let head = String::from_utf8_lossy(&resp[..resp.len().min(64)]).to_string();
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            Error::Internal(format!("demo request {method} {path}: bad answer {head:?}"))
        })
}

/// Waits until the catalog from the central is on the node, receives the initial stock through
/// the API, then lets the central release its orders (and hold one).
async fn seed_node(addr: SocketAddr, key: &str, sim: &CentralSim) -> Result<()> {
    let end = tokio::time::Instant::now() + STARTUP_DEADLINE;
    let last_sku = PRODUCTS.last().map(|p| (p.0, p.1)).unwrap_or(("acme", ""));
    let last_loc = LOCATIONS.last().map(|l| l.0).unwrap_or("");
    let probes = [
        format!("/v1/products/{}/{}", last_sku.0, last_sku.1),
        format!("/v1/locations/{last_loc}"),
        format!("/v1/users/{}", USERS.last().map(|u| u.0).unwrap_or("")),
    ];
    for p in &probes {
        loop {
            if call(addr, key, "GET", p, None).await? == 200 {
                break;
            }
            if tokio::time::Instant::now() >= end {
                return Err(Error::Internal(format!(
                    "the central's catalog did not arrive ({p})"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for (tenant, sku, location, qty) in STOCK {
        let body = json!({"tenant_id": tenant, "sku": sku, "location": location, "delta": qty,
                          "reason": "received", "note": "demo initial stock"});
        let code = call(addr, key, "POST", "/v1/inventory/adjustments", Some(&body)).await?;
        if !(200..300).contains(&code) {
            return Err(Error::Internal(format!(
                "receiving {qty} {tenant}/{sku} at {location}: HTTP {code}"
            )));
        }
    }
    for (id, tenant, lines) in ORDERS {
        sim.push_change("order.upsert", order_object(id, tenant, lines));
    }
    sim.push_change(
        "order.hold",
        json!({"id": HELD_ORDER, "reason": "address check", "version": 2}),
    );
    Ok(())
}

/// Writes each label the printer simulator receives to `dir`, and what the receipt printer
/// printed to `dir/receipts.txt`, and says so.
async fn watch_printers(
    label: Arc<Mutex<ZplState>>,
    receipt: Arc<Mutex<EscPosState>>,
    dir: PathBuf,
    stop: CancellationToken,
) {
    let lock = |m: &Arc<Mutex<ZplState>>| {
        m.lock()
            .map(|g| g.formats.clone())
            .unwrap_or_else(|e| e.into_inner().formats.clone())
    };
    let receipts = |m: &Arc<Mutex<EscPosState>>| match m.lock() {
        Ok(g) => (g.receipts, g.printed.clone()),
        Err(e) => {
            let g = e.into_inner();
            (g.receipts, g.printed.clone())
        }
    };
    let mut seen_labels = 0usize;
    let mut seen_receipts = 0u32;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let formats = lock(&label);
        for (i, f) in formats.iter().enumerate().skip(seen_labels) {
            let path = dir.join(format!("label-{:04}.zpl", i + 1));
            match std::fs::write(&path, f.as_bytes()) {
                Ok(()) => say(format_args!(
                    "label printer simulator: label {} received ({} bytes) -> {}",
                    i + 1,
                    f.len(),
                    path.display()
                )),
                Err(e) => say(format_args!(
                    "label printer simulator: label {} received ({} bytes); cannot write {}: {e}",
                    i + 1,
                    f.len(),
                    path.display()
                )),
            }
        }
        seen_labels = formats.len();
        let (r, text) = receipts(&receipt);
        if r > seen_receipts {
            let path = dir.join("receipts.txt");
            let wrote = std::fs::write(&path, text.as_bytes());
            say(format_args!(
                "receipt printer simulator: {r} receipt(s) printed{}",
                match wrote {
                    Ok(()) => format!(" -> {}", path.display()),
                    Err(e) => format!("; cannot write {}: {e}", path.display()),
                }
            ));
            seen_receipts = r;
        }
    }
}

/// A line on stdout; a closed stdout is not the demo's problem.
fn say(args: fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Removes a temporary data dir when dropped.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

/// Runs the demo until `shutdown` resolves. `on_ready` gets the banner once the node is serving
/// with its sample data in place.
pub async fn run(
    opts: DemoOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Banner),
) -> Result<()> {
    let temporary = opts.data_dir.is_none();
    let root = match &opts.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("wms-edge-demo-{}", random_hex(6))),
    };
    std::fs::create_dir_all(&root)
        .map_err(|e| Error::Config(format!("cannot create {}: {e}", root.display())))?;
    let _cleanup = TempDir((temporary && !opts.keep).then(|| root.clone()));

    let secrets = Secrets {
        admin_key: crate::store::base::keys::generate(),
        central_key: random_hex(16),
        signing_secret: random_hex(32),
        webhook_secret: random_hex(16),
    };
    let mut sim_cfg = SimConfig::new(SITE);
    sim_cfg.api_key = secrets.central_key.clone();
    sim_cfg.signing_secret = secrets.signing_secret.as_bytes().to_vec();
    let central = CentralSim::start(sim_cfg)
        .await
        .map_err(|e| Error::Internal(format!("central simulator: {e}")))?;
    seed_central(&central).await?;

    let display_screen = root.join("customer-display.txt");
    let sims = start_sims(&root.join("dev"), &display_screen).await?;
    let printed_dir = root.join("printed");
    std::fs::create_dir_all(&printed_dir)
        .map_err(|e| Error::Config(format!("cannot create {}: {e}", printed_dir.display())))?;
    let text = config_text(
        &opts.listen,
        &root.join("data"),
        &sims,
        &central.url(),
        &secrets,
    );
    let config_path = root.join("edge.toml");
    std::fs::write(&config_path, &text)
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", config_path.display())))?;
    let cfg = crate::config::parse(&config_path.display().to_string(), &text)
        .map_err(|p| Error::Config(p.to_string()))?;

    let stop = CancellationToken::new();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let node_stop = stop.clone();
    let mut node = tokio::spawn(crate::node::serve(
        cfg,
        async move { node_stop.cancelled().await },
        move |a| {
            let _ = addr_tx.send(a);
        },
    ));
    let watcher = tokio::spawn(watch_printers(
        sims.label_state.clone(),
        sims.receipt_state.clone(),
        printed_dir.clone(),
        stop.clone(),
    ));

    let started = async {
        // A closed channel means `serve` returned before listening: its error says why.
        let addr = addr_rx.await.map_err(|_| None)?;
        seed_node(addr, &secrets.admin_key, &central)
            .await
            .map_err(Some)?;
        Ok::<_, Option<Error>>(addr)
    };
    // Ctrl-C during start-up stops the demo too.
    tokio::pin!(shutdown);
    let ready: Result<Option<SocketAddr>> = tokio::select! {
        r = started => match r {
            Ok(addr) => Ok(Some(addr)),
            Err(Some(e)) => Err(e),
            Err(None) => joined((&mut node).await)
                .and(Err(Error::Internal("the node stopped before listening".into()))),
        },
        r = &mut node => joined(r).and(Err(Error::Internal("the node stopped during start-up".into()))),
        _ = &mut shutdown => Ok(None),
    };
    let outcome = match ready {
        Ok(Some(addr)) => {
            on_ready(&Banner {
                url: format!("http://{addr}"),
                admin_key: secrets.admin_key.clone(),
                scanner_pty: sims.scanner.path().to_path_buf(),
                packer_scanner_pty: sims.packer_scanner.path().to_path_buf(),
                data_dir: root.clone(),
                printed_dir: printed_dir.clone(),
                display_screen: display_screen.clone(),
                register_scanner_pty: sims.register_scanner.path().to_path_buf(),
                central_url: central.url(),
                temporary: temporary && !opts.keep,
            });
            tokio::select! {
                _ = &mut shutdown => Ok(()),
                r = &mut node => joined(r),
            }
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    stop.cancel();
    let stopped = if node.is_finished() {
        Ok(())
    } else {
        joined(node.await)
    };
    let _ = watcher.await;
    drop(sims);
    drop(central);
    outcome.and(stopped)
}

fn joined(r: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    r.map_err(|e| Error::Internal(format!("node task: {e}")))?
}
