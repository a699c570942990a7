//! Versioned schema migrations. `PRAGMA user_version` records how many have been applied; a database
//! with a higher number than this binary knows is refused rather than guessed at.

/// Each entry is one migration, applied in its own transaction, in order. Never edit a released
/// entry: append a new one.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

CREATE TABLE products (
    tenant_id   TEXT NOT NULL,
    sku         TEXT NOT NULL,
    name        TEXT NOT NULL,
    barcodes    TEXT NOT NULL DEFAULT '[]',
    weight      TEXT,
    dimensions  TEXT,
    tracking    TEXT NOT NULL DEFAULT 'none',
    price       TEXT,
    price_tiers TEXT NOT NULL DEFAULT '[]',
    tax_code    TEXT,
    version     INTEGER,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, sku)
) STRICT;

CREATE TABLE product_barcodes (
    code      TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    sku       TEXT NOT NULL,
    PRIMARY KEY (code, tenant_id, sku),
    FOREIGN KEY (tenant_id, sku) REFERENCES products(tenant_id, sku) ON DELETE CASCADE
) STRICT;

CREATE TABLE locations (
    code          TEXT PRIMARY KEY,
    zone          TEXT,
    pick_sequence INTEGER NOT NULL DEFAULT 0,
    kind          TEXT NOT NULL DEFAULT 'pick',
    version       INTEGER,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT,
    name       TEXT NOT NULL,
    badge      TEXT UNIQUE,
    pin_hash   TEXT,
    roles      TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1,
    version    INTEGER,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE api_keys (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    tenant_id  TEXT,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;

-- The materialised projection of the ledger and the reservations. The CHECK is the last line of
-- defence for invariant 5: no code path can commit negative available stock.
CREATE TABLE stock (
    tenant_id TEXT NOT NULL,
    sku       TEXT NOT NULL,
    location  TEXT NOT NULL,
    lot       TEXT NOT NULL DEFAULT '',
    on_hand   INTEGER NOT NULL DEFAULT 0,
    reserved  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, sku, location, lot),
    CHECK (reserved >= 0 AND on_hand >= reserved)
) STRICT;
CREATE INDEX stock_by_sku ON stock(tenant_id, sku);
CREATE INDEX stock_by_location ON stock(location);

CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    sku           TEXT NOT NULL,
    location      TEXT NOT NULL,
    lot           TEXT NOT NULL DEFAULT '',
    delta         INTEGER NOT NULL CHECK (delta <> 0),
    reason        TEXT NOT NULL,
    ref           TEXT NOT NULL DEFAULT '{}',
    note          TEXT,
    on_hand_after INTEGER NOT NULL,
    actor_user    TEXT,
    actor_device  TEXT,
    actor_api_key TEXT,
    at            TEXT NOT NULL,
    event_seq     INTEGER NOT NULL
) STRICT;
CREATE INDEX ledger_by_position ON ledger(tenant_id, sku, location, lot);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;

CREATE TABLE orders (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    status       TEXT NOT NULL,
    held_from    TEXT,
    channel      TEXT,
    created_at   TEXT,
    ship_by      TEXT,
    priority     TEXT NOT NULL DEFAULT 'standard',
    shipping     TEXT NOT NULL DEFAULT '{}',
    ship_to      TEXT NOT NULL DEFAULT '{}',
    notes        TEXT,
    gift_message TEXT,
    branding     TEXT NOT NULL DEFAULT '{}',
    version      INTEGER,
    accepted_at  TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;
CREATE INDEX orders_by_tenant ON orders(tenant_id, id);

CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders(id),
    line_id  TEXT NOT NULL,
    sku      TEXT NOT NULL,
    qty      INTEGER NOT NULL CHECK (qty > 0),
    PRIMARY KEY (order_id, line_id)
) STRICT;

CREATE TABLE reservations (
    id        INTEGER PRIMARY KEY,
    order_id  TEXT NOT NULL REFERENCES orders(id),
    line_id   TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    sku       TEXT NOT NULL,
    location  TEXT NOT NULL,
    lot       TEXT NOT NULL DEFAULT '',
    qty       INTEGER NOT NULL CHECK (qty > 0)
) STRICT;
CREATE INDEX reservations_by_order ON reservations(order_id);
CREATE INDEX reservations_by_position ON reservations(tenant_id, sku, location, lot);

-- The order's timeline: every status change with who and why.
CREATE TABLE order_events (
    id            INTEGER PRIMARY KEY,
    order_id      TEXT NOT NULL REFERENCES orders(id),
    at            TEXT NOT NULL,
    from_status   TEXT,
    to_status     TEXT NOT NULL,
    note          TEXT,
    actor_user    TEXT,
    actor_device  TEXT,
    actor_api_key TEXT
) STRICT;
CREATE INDEX order_events_by_order ON order_events(order_id, id);

CREATE TABLE audit (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    actor_user    TEXT,
    actor_device  TEXT,
    actor_api_key TEXT,
    action        TEXT NOT NULL,
    target        TEXT NOT NULL,
    changes       TEXT NOT NULL DEFAULT '{}',
    request_id    TEXT
) STRICT;
CREATE INDEX audit_by_action ON audit(action, id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- The transactional outbox: one row per upstream event, written in the same transaction as the
-- change it reports. `body` is the exact event JSON that goes on the wire.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    aggregate   TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    error       TEXT,
    done_at     TEXT
) STRICT;
CREATE INDEX outbox_by_state ON outbox(state, seq);
"#,
    // 2: sync with the central platform (`sync-api.md`).
    r#"
-- Key/value state of the sync client, written in the same transaction as what it describes:
-- `cursor` (down-sync position), `acked_through`, `dead_generation` (bumped on every dead-letter
-- change), `id_leases` (JSON of the ID-block leases), `diverged_at_seq` (highest local seq when
-- the central was first seen ahead of this database).
CREATE TABLE sync_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- History of dead letters. The outbox row itself carries `state = 'dead'` while one is open;
-- a discarded event is closed as `done` there (never sent again) and recorded here.
CREATE TABLE sync_dead_letters (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    aggregate   TEXT NOT NULL,
    code        TEXT NOT NULL,
    message     TEXT NOT NULL,
    dead_at     TEXT NOT NULL,
    resolution  TEXT CHECK (resolution IN ('retried', 'discarded')),
    resolved_at TEXT,
    resolved_by TEXT
) STRICT;
CREATE UNIQUE INDEX sync_dead_letters_open ON sync_dead_letters(seq) WHERE resolution IS NULL;

-- The version held per synced object (`order:O-1`, `product:acme/SKU-1`, `location:A-1`,
-- `user:u1`): one counter per object shared by all its change types.
CREATE TABLE sync_versions (
    object  TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) STRICT;

-- Down-sync changes that were not applied: unknown types, malformed objects, and objects the
-- site refused (unknown sku, bad field). Kept for operators and a later upgrade.
CREATE TABLE sync_skipped_changes (
    id        INTEGER PRIMARY KEY,
    change_id INTEGER NOT NULL,
    type      TEXT NOT NULL,
    object    TEXT NOT NULL,
    error     TEXT NOT NULL,
    at        TEXT NOT NULL
) STRICT;

-- Set by the pack workflow when a shipping label is printed for the order; an address change
-- from the central after that sends the order to `exception` (`sync-api.md`, conflicts).
ALTER TABLE orders ADD COLUMN label_printed_at TEXT;
"#,
    // 3: the station workflows (design.md §4).
    r#"
-- Each station's persisted `StationState` (serde JSON), written in the same transaction as the
-- commands of the input that produced it, so a restarted node resumes mid-tote.
CREATE TABLE station_state (
    station_id TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

-- A pick task is one reservation row (`task_id` = `T<reservation id>`); the reservation's `qty`
-- is what is left to pick. This table holds who claimed it and into which tote. A reservation
-- that goes away (picked in full, cancelled, backordered) takes its claim with it.
CREATE TABLE pick_tasks (
    reservation_id INTEGER PRIMARY KEY,
    user_id        TEXT NOT NULL,
    tote           TEXT NOT NULL,
    claimed_at     TEXT NOT NULL
) STRICT;
CREATE TRIGGER reservations_drop_claim AFTER DELETE ON reservations
    BEGIN DELETE FROM pick_tasks WHERE reservation_id = old.id; END;

-- Picked units in a tote, per order line and lot, until the order ships.
CREATE TABLE tote_contents (
    tote      TEXT NOT NULL,
    order_id  TEXT NOT NULL REFERENCES orders(id),
    line_id   TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    sku       TEXT NOT NULL,
    lot       TEXT NOT NULL DEFAULT '',
    qty       INTEGER NOT NULL CHECK (qty > 0),
    PRIMARY KEY (tote, order_id, line_id, lot)
) STRICT;
CREATE INDEX tote_contents_by_order ON tote_contents(order_id);

-- Totes closed at a pick station and waiting for packing.
CREATE TABLE totes (
    tote      TEXT PRIMARY KEY,
    state     TEXT NOT NULL CHECK (state IN ('to_pack')),
    closed_at TEXT NOT NULL,
    closed_by TEXT
) STRICT;
"#,
    // 4: packing and shipping (design.md §4): cartons, print jobs, shipments.
    r#"
-- One row per labelled carton, with the numbers taken from the site's ID blocks. A voided label
-- (the order left the bench, or was cancelled after labelling) keeps its row with `voided_at`,
-- so a tracking number or SSCC is never issued twice.
CREATE TABLE cartons (
    id              INTEGER PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders(id),
    carton          INTEGER NOT NULL CHECK (carton > 0),
    tracking_number TEXT NOT NULL,
    sscc            TEXT NOT NULL,
    weight_mg       INTEGER NOT NULL,
    station_id      TEXT NOT NULL,
    printed_at      TEXT NOT NULL,
    voided_at       TEXT,
    shipment_id     TEXT
) STRICT;
CREATE UNIQUE INDEX cartons_live ON cartons(order_id, carton) WHERE voided_at IS NULL;
-- Print jobs, written in the same transaction as the step that printed them. After the commit
-- the node hands each to its printer's durable spool under the job's own id (`spool_id`), so a
-- crash in between neither loses a label nor prints it twice.
CREATE TABLE print_jobs (
    id         INTEGER PRIMARY KEY,
    device_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    order_id   TEXT,
    data       BLOB NOT NULL,
    created_at TEXT NOT NULL,
    spool_id   TEXT NOT NULL UNIQUE,
    spooled_at TEXT,
    error      TEXT
) STRICT;
CREATE INDEX print_jobs_pending ON print_jobs(id) WHERE spooled_at IS NULL;
-- Confirmed shipments (`shipment.created` upstream).
CREATE TABLE shipments (
    id         TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL REFERENCES orders(id),
    carrier    TEXT,
    service    TEXT,
    cartons    INTEGER NOT NULL,
    weight_mg  INTEGER NOT NULL,
    items      TEXT NOT NULL,
    station_id TEXT,
    shipped_at TEXT NOT NULL
) STRICT;
CREATE INDEX shipments_by_order ON shipments(order_id);
-- A pick task's id is its reservation's id, and stations keep task ids in their saved state
-- (tasks passed, skipped): an id must never come back after its reservation is deleted, which
-- only AUTOINCREMENT guarantees (a short pick deletes the last reservation and re-allocates).
CREATE TABLE reservations_v4 (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id  TEXT NOT NULL REFERENCES orders(id),
    line_id   TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    sku       TEXT NOT NULL,
    location  TEXT NOT NULL,
    lot       TEXT NOT NULL DEFAULT '',
    qty       INTEGER NOT NULL CHECK (qty > 0)
) STRICT;
INSERT INTO reservations_v4(id, order_id, line_id, tenant_id, sku, location, lot, qty)
    SELECT id, order_id, line_id, tenant_id, sku, location, lot, qty FROM reservations;
DROP TRIGGER reservations_drop_claim;
DROP TABLE reservations;
ALTER TABLE reservations_v4 RENAME TO reservations;
CREATE INDEX reservations_by_order ON reservations(order_id);
CREATE INDEX reservations_by_position ON reservations(tenant_id, sku, location, lot);
CREATE TRIGGER reservations_drop_claim AFTER DELETE ON reservations
    BEGIN DELETE FROM pick_tasks WHERE reservation_id = old.id; END;
-- When the node flagged the order as about to miss (or having missed) its carrier cut-off
-- (`order.exception` `missed_cutoff` upstream, once per order).
ALTER TABLE orders ADD COLUMN cutoff_flagged_at TEXT;
-- Where a tote's units were picked from: the shelf a cancelled order's units go back to.
ALTER TABLE tote_contents ADD COLUMN from_location TEXT;
-- Expiry of each lot as received (GS1 AI 17), for first-expiry-first-out allocation.
CREATE TABLE lots (
    tenant_id TEXT NOT NULL,
    sku       TEXT NOT NULL,
    lot       TEXT NOT NULL,
    expiry    TEXT,
    PRIMARY KEY (tenant_id, sku, lot)
) STRICT;
"#,
    // 5: stock positions are only ever found by their key (or by location): keep the rows in key
    // order with no rowid, so a position lookup or a page of `GET /v1/inventory` is one b-tree
    // walk instead of an index walk plus a table probe per row. The (tenant, sku) index is a
    // prefix of the key and goes.
    r#"
CREATE TABLE stock_v5 (
    tenant_id TEXT NOT NULL,
    sku       TEXT NOT NULL,
    location  TEXT NOT NULL,
    lot       TEXT NOT NULL DEFAULT '',
    on_hand   INTEGER NOT NULL DEFAULT 0,
    reserved  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, sku, location, lot),
    CHECK (reserved >= 0 AND on_hand >= reserved)
) STRICT, WITHOUT ROWID;
INSERT INTO stock_v5(tenant_id, sku, location, lot, on_hand, reserved)
    SELECT tenant_id, sku, location, lot, on_hand, reserved FROM stock;
DROP TABLE stock;
ALTER TABLE stock_v5 RENAME TO stock;
CREATE INDEX stock_by_location ON stock(location);
"#,
    // 6: the point of sale (pos-api.md): floor users' sessions and the login lockout, the price
    // facts the central sends (tax rates, promotions, customers, group prices), registers'
    // sessions, sales and payments. Stock at a `store` location may go below zero through a sale
    // (the goods are in the customer's hand), so "available never negative" moves from a CHECK
    // to triggers that make that one exception; everywhere else it holds as before.
    r#"
ALTER TABLE products ADD COLUMN group_prices TEXT NOT NULL DEFAULT '[]';

CREATE TABLE tax_rates (
    code       TEXT PRIMARY KEY,
    name       TEXT,
    rate       TEXT NOT NULL,
    version    INTEGER,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE promotions (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    code         TEXT,
    kind         TEXT NOT NULL,
    skus         TEXT,
    percent      TEXT,
    amount       INTEGER,
    buy_qty      INTEGER,
    get_qty      INTEGER,
    min_subtotal INTEGER,
    starts_at    TEXT,
    ends_at      TEXT,
    active       INTEGER NOT NULL DEFAULT 1,
    version      INTEGER,
    updated_at   TEXT NOT NULL
) STRICT;
CREATE INDEX promotions_by_tenant ON promotions(tenant_id, code);

CREATE TABLE customers (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    name         TEXT,
    email        TEXT,
    phone        TEXT,
    loyalty_id   TEXT,
    price_group  TEXT,
    active       INTEGER NOT NULL DEFAULT 1,
    version      INTEGER,
    created_here INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT,
    updated_at   TEXT NOT NULL
) STRICT;
CREATE INDEX customers_by_loyalty ON customers(tenant_id, loyalty_id);

CREATE TABLE user_sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    ended_at     TEXT
) STRICT;

-- Failed PINs per badge string (known or not): the times of those in the last 15 minutes (JSON)
-- and the lock five of them set.
CREATE TABLE login_failures (
    badge        TEXT PRIMARY KEY,
    recent       TEXT NOT NULL,
    locked_until TEXT
) STRICT;

CREATE TABLE pos_sessions (
    id            TEXT PRIMARY KEY,
    register_id   TEXT NOT NULL,
    cashier       TEXT NOT NULL,
    currency      TEXT NOT NULL,
    opened_at     TEXT NOT NULL,
    opening_float INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'open',
    closed_at     TEXT,
    counted_cash  INTEGER,
    note          TEXT,
    z_no          INTEGER,
    report        TEXT
) STRICT;
CREATE UNIQUE INDEX pos_sessions_one_open ON pos_sessions(register_id) WHERE state = 'open';
CREATE UNIQUE INDEX pos_sessions_z_no ON pos_sessions(register_id, z_no) WHERE z_no IS NOT NULL;

-- `cart` is what the cashier decided (lines, coupon, manual discounts); `priced` is what
-- `domain::pos::pricing` made of it, kept as the sale's lines and totals.
CREATE TABLE pos_sales (
    id            TEXT PRIMARY KEY,
    register_id   TEXT NOT NULL,
    session_id    TEXT NOT NULL REFERENCES pos_sessions(id),
    tenant_id     TEXT NOT NULL,
    currency      TEXT NOT NULL,
    cashier       TEXT NOT NULL,
    customer_id   TEXT,
    status        TEXT NOT NULL DEFAULT 'open',
    cart          TEXT NOT NULL,
    priced        TEXT NOT NULL,
    total         INTEGER NOT NULL DEFAULT 0,
    receipt_no    TEXT UNIQUE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    completed_at  TEXT,
    completed_seq INTEGER
) STRICT;
CREATE UNIQUE INDEX pos_sales_one_open ON pos_sales(register_id) WHERE status = 'open';
CREATE INDEX pos_sales_by_session ON pos_sales(session_id);

-- One row per tender. A card payment's `service_id` is chosen and committed before the request
-- goes to the terminal (the write-ahead attempt), so a restart knows what to ask about.
CREATE TABLE pos_payments (
    id              TEXT PRIMARY KEY,
    sale_id         TEXT NOT NULL REFERENCES pos_sales(id),
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    method          TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    state           TEXT NOT NULL,
    tendered        INTEGER,
    change          INTEGER NOT NULL DEFAULT 0,
    rounding        INTEGER NOT NULL DEFAULT 0,
    terminal_id     TEXT,
    service_id      TEXT UNIQUE,
    card            TEXT,
    offline         INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (sale_id, idempotency_key)
) STRICT;
CREATE INDEX pos_payments_by_sale ON pos_payments(sale_id);
CREATE INDEX pos_payments_pending ON pos_payments(terminal_id) WHERE state = 'pending';

CREATE TABLE stock_v6 (
    tenant_id TEXT NOT NULL,
    sku       TEXT NOT NULL,
    location  TEXT NOT NULL,
    lot       TEXT NOT NULL DEFAULT '',
    on_hand   INTEGER NOT NULL DEFAULT 0,
    reserved  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, sku, location, lot),
    CHECK (reserved >= 0)
) STRICT, WITHOUT ROWID;
INSERT INTO stock_v6(tenant_id, sku, location, lot, on_hand, reserved)
    SELECT tenant_id, sku, location, lot, on_hand, reserved FROM stock;
DROP TABLE stock;
ALTER TABLE stock_v6 RENAME TO stock;
CREATE INDEX stock_by_location ON stock(location);
CREATE TRIGGER stock_available_on_insert BEFORE INSERT ON stock
    WHEN NEW.on_hand < NEW.reserved
     AND NOT (NEW.reserved = 0
              AND EXISTS (SELECT 1 FROM locations WHERE code = NEW.location AND kind = 'store'))
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: available stock may not go negative');
END;
CREATE TRIGGER stock_available_on_update BEFORE UPDATE ON stock
    WHEN NEW.on_hand < NEW.reserved
     AND NOT (NEW.reserved = 0
              AND EXISTS (SELECT 1 FROM locations WHERE code = NEW.location AND kind = 'store'))
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: available stock may not go negative');
END;
"#,
    // 7: the till's second half (pos-api.md): cash movements, voids, refunds (their lines and
    // where their money went), and the card reversals the till sends for voids and refunds,
    // each written with its ServiceID before it goes to the terminal.
    r#"
ALTER TABLE pos_sales ADD COLUMN voided_at TEXT;
ALTER TABLE pos_sales ADD COLUMN void_reason TEXT;
ALTER TABLE pos_sales ADD COLUMN voided_by TEXT;
CREATE TABLE pos_cash_movements (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES pos_sessions(id),
    register_id TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('pay_in', 'pay_out', 'safe_drop', 'no_sale')),
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    reason      TEXT,
    cashier     TEXT NOT NULL,
    approved_by TEXT,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX pos_cash_movements_by_session ON pos_cash_movements(session_id);
CREATE TABLE pos_refunds (
    id              TEXT PRIMARY KEY,
    sale_id         TEXT REFERENCES pos_sales(id),
    register_id     TEXT NOT NULL,
    session_id      TEXT NOT NULL REFERENCES pos_sessions(id),
    tenant_id       TEXT NOT NULL,
    currency        TEXT NOT NULL,
    cashier         TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    tax             INTEGER NOT NULL,
    reason          TEXT NOT NULL,
    approved_by     TEXT,
    refund_to       TEXT NOT NULL,
    customer_id     TEXT,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'completed')),
    created_at      TEXT NOT NULL,
    completed_at    TEXT
) STRICT;
CREATE INDEX pos_refunds_by_sale ON pos_refunds(sale_id);
CREATE INDEX pos_refunds_by_session ON pos_refunds(session_id);
CREATE TABLE pos_refund_lines (
    refund_id TEXT NOT NULL REFERENCES pos_refunds(id),
    line_id   TEXT NOT NULL,
    sku       TEXT NOT NULL,
    qty       INTEGER NOT NULL CHECK (qty > 0),
    amount    INTEGER NOT NULL,
    tax       INTEGER NOT NULL,
    restock   INTEGER NOT NULL,
    PRIMARY KEY (refund_id, line_id)
) STRICT;
CREATE TABLE pos_refund_tenders (
    id         TEXT PRIMARY KEY,
    refund_id  TEXT NOT NULL REFERENCES pos_refunds(id),
    method     TEXT NOT NULL,
    payment_id TEXT REFERENCES pos_payments(id),
    amount     INTEGER NOT NULL CHECK (amount > 0),
    state      TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'refused')),
    detail     TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX pos_refund_tenders_by_refund ON pos_refund_tenders(refund_id);
CREATE TABLE pos_card_reversals (
    id          TEXT PRIMARY KEY,
    payment_id  TEXT NOT NULL REFERENCES pos_payments(id),
    purpose     TEXT NOT NULL CHECK (purpose IN ('void', 'refund')),
    ref_id      TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    service_id  TEXT NOT NULL UNIQUE,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    state       TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'refused')),
    detail      TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX pos_card_reversals_pending ON pos_card_reversals(state) WHERE state = 'pending';
CREATE INDEX pos_card_reversals_by_payment ON pos_card_reversals(payment_id);
"#,
];
