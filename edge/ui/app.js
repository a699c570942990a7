// The station screens' one script. The node renders every page and every part of a page; this
// script only (1) sends what people type or scan to the JSON API with the session cookie and the
// page's CSRF token, (2) follows /v1/events and fetches again the parts an event touched, and
// (3) takes people back to the login, keeping what they were typing, when their session ends.
"use strict";
(function () {
  const body = document.body;
  const page = body.dataset.page;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const here = location.pathname + location.search;
  const keep = "wms-scan:" + location.pathname;

  // ---- talking to the node --------------------------------------------------------------------

  class Refused extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function scanField() {
    return document.querySelector('[data-testid="scan-input"]');
  }

  // Back to the login; what the scan field holds comes back when the person returns.
  function toLogin(why) {
    const f = scanField();
    if (f && f.value) sessionStorage.setItem(keep, f.value);
    location.assign("/ui/login?why=" + why + "&next=" + encodeURIComponent(here));
  }

  async function call(method, url, data, headers) {
    const h = Object.assign({ "X-CSRF-Token": csrf }, headers || {});
    const init = { method: method, headers: h, credentials: "same-origin" };
    if (data !== undefined) {
      h["Content-Type"] = "application/json";
      init.body = JSON.stringify(data);
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (e) {
      throw new Refused(0, "The node cannot be reached — try again when it is back");
    }
    if (resp.status === 401) {
      toLogin("expired");
      throw new Refused(401, "Your session has ended");
    }
    const text = await resp.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (e) {
      json = null;
    }
    if (!resp.ok) {
      const msg = json && json.error && json.error.message;
      throw new Refused(resp.status, msg || "The node answered " + resp.status);
    }
    return json;
  }

  // An idempotency key for a payment; crypto.randomUUID needs a secure context, a floor
  // network's plain http:// address is not one.
  function newKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  // "40", "40.5", "40.00" → minor units with the register's digits; null when not an amount.
  function minorUnits(text, digits) {
    const t = String(text || "").trim().replace(",", ".");
    if (!/^\d+(\.\d*)?$/.test(t) && !/^\.\d+$/.test(t)) return null;
    const parts = t.split(".");
    const frac = (parts[1] || "").padEnd(digits, "0");
    if (frac.length > digits) return null;
    return Number(parts[0] || "0") * Math.pow(10, digits) + Number(frac || "0");
  }

  // ---- parts ----------------------------------------------------------------------------------

  const inflight = new Map();
  // What a page does after one of its parts was redrawn.
  const redrawn = {};

  // Fetches a part again (one request at a time per part; a change during one asks once more).
  function refresh(name) {
    const el = document.querySelector('[data-part="' + name + '"]');
    if (!el) return Promise.resolve();
    if (inflight.has(name)) {
      inflight.get(name).again = true;
      return inflight.get(name).done;
    }
    const slot = { again: false };
    slot.done = (async () => {
      try {
        do {
          slot.again = false;
          const resp = await fetch(el.dataset.src, { credentials: "same-origin" });
          if (resp.redirected && new URL(resp.url).pathname === "/ui/login") {
            toLogin("expired");
            return;
          }
          if (resp.ok) {
            put(el, await resp.text());
            if (redrawn[name]) redrawn[name]();
          }
        } while (slot.again);
      } catch (e) {
        // The node is away; the event stream's reconnection redraws everything.
      } finally {
        inflight.delete(name);
      }
    })();
    inflight.set(name, slot);
    return slot.done;
  }

  // Puts a part's new HTML in place, unless nothing changed, keeping what people were typing
  // into its fields and where the cursor was.
  function put(el, html) {
    if (el.innerHTML === html) return;
    const typed = {};
    for (const f of el.querySelectorAll("input[name]")) if (f.value) typed[f.name] = f.value;
    const active = document.activeElement;
    const focused = active && el.contains(active) && active.name ? active.name : null;
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    if (el.innerHTML === tpl.innerHTML) return;
    el.replaceChildren(tpl.content);
    for (const f of el.querySelectorAll("input[name]")) {
      if (typed[f.name] !== undefined && !f.value) f.value = typed[f.name];
      if (f.name === focused) f.focus();
    }
  }

  function refreshAll() {
    return Promise.all(
      Array.from(document.querySelectorAll("[data-part]"), (el) => refresh(el.dataset.part))
    );
  }

  // ---- feedback -------------------------------------------------------------------------------

  let audio = null;
  function beep(good) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const tones = good ? [[1320, 0, 0.09]] : [[220, 0, 0.16], [180, 0.2, 0.3]];
      for (const [freq, start, stop] of tones) {
        const o = audio.createOscillator();
        const g = audio.createGain();
        o.type = good ? "sine" : "square";
        o.frequency.value = freq;
        g.gain.value = 0.15;
        o.connect(g).connect(audio.destination);
        o.start(audio.currentTime + start);
        o.stop(audio.currentTime + stop);
      }
    } catch (e) {
      // No sound on this device: colour and text still say it.
    }
  }

  function show(feedback, prompt, sound) {
    const fb = document.querySelector('[data-testid="feedback"]');
    const pr = document.querySelector('[data-testid="prompt"]');
    if (fb) {
      fb.dataset.feedback = feedback;
      fb.textContent = feedback === "good" ? "✓ OK" : feedback === "bad" ? "✗ Problem" : "Ready";
    }
    if (pr) pr.textContent = prompt;
    if (sound) beep(feedback === "good");
  }

  // ---- live events ----------------------------------------------------------------------------

  const handlers = {};
  let source = null;
  let retry = 500;

  function setLive(state) {
    const el = document.querySelector('[data-testid="live"]');
    if (!el) return;
    el.dataset.live = state;
    el.textContent = state === "live" ? "live" : state === "down" ? "reconnecting…" : state;
  }

  function connect() {
    const types = body.dataset.events;
    if (!types) return;
    source = new EventSource("/v1/events?types=" + encodeURIComponent(types));
    source.onopen = () => {
      retry = 500;
      setLive("live");
      // Whatever happened while the stream was down (a node restart) is read afresh.
      refreshAll();
    };
    source.onerror = () => {
      setLive("down");
      if (source.readyState === EventSource.CLOSED) {
        // Refused outright: a node that is back but no longer knows this session, or an
        // answer that is not a stream. Ask once, then try again later.
        source.close();
        fetch(here, { credentials: "same-origin" })
          .then((r) => {
            if (r.redirected && new URL(r.url).pathname === "/ui/login") toLogin("expired");
          })
          .catch(() => {});
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 5000);
      }
    };
    for (const t of types.split(",")) {
      source.addEventListener(t, (e) => {
        let data = null;
        try {
          data = JSON.parse(e.data);
        } catch (err) {
          return;
        }
        const h = handlers[page];
        if (h) h(t, data);
      });
    }
  }

  // ---- idle logout ----------------------------------------------------------------------------

  async function logout(why) {
    try {
      await fetch("/ui/session", {
        method: "DELETE",
        headers: { "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
    } finally {
      location.assign("/ui/login" + (why ? "?why=" + why + "&next=" + encodeURIComponent(here) : ""));
    }
  }

  function idleLogout() {
    const secs = Number(body.dataset.idleS || 0);
    if (!secs) return;
    let timer = null;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => logout("idle"), secs * 1000);
    };
    for (const ev of ["keydown", "pointerdown", "touchstart"]) {
      document.addEventListener(ev, arm, { passive: true });
    }
    arm();
  }

  // ---- pages ----------------------------------------------------------------------------------

  function loginPage() {
    const form = document.getElementById("login");
    const badge = document.getElementById("badge");
    const pin = document.getElementById("pin");
    const err = document.querySelector('[data-testid="login-error"]');
    // A badge scanned into the field arrives as EMP:<badge> followed by Enter.
    badge.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        badge.value = badge.value.trim().replace(/^EMP:/, "");
        pin.focus();
      }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      err.hidden = true;
      const b = badge.value.trim().replace(/^EMP:/, "");
      const p = pin.value.trim().replace(/^PIN:/, "");
      try {
        const resp = await fetch("/ui/session", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          credentials: "same-origin",
          body: JSON.stringify({ badge: b, pin: p }),
        });
        if (resp.ok) {
          location.assign(form.dataset.next || "/ui/");
          return;
        }
        let msg = "Login failed";
        if (resp.status === 401) msg = "Wrong badge or PIN";
        else {
          try {
            msg = (await resp.json()).error.message || msg;
          } catch (x) {
            // keep the general message
          }
        }
        err.textContent = msg;
      } catch (x) {
        err.textContent = "The node cannot be reached";
      }
      err.hidden = false;
      pin.value = "";
      pin.focus();
    });
  }

  // Scans this page sent, so the event of the same scan does not beep a second time.
  const own = [];

  function stationPage() {
    const device = body.dataset.device;
    const station = body.dataset.station;
    const form = document.getElementById("scan");
    const input = scanField();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = input.value.trim();
      if (!data || !device) return;
      own.push(/^PIN:/.test(data) ? "PIN:****" : data);
      if (own.length > 20) own.shift();
      try {
        const a = await call("POST", "/v1/scans", { device_id: device, data: data });
        input.value = "";
        show(a.feedback, a.prompt, true);
      } catch (err) {
        if (err.status !== 401) show("bad", err.message, true);
      }
      refresh("work");
      input.focus();
    });
    handlers.station = (type, ev) => {
      if (ev.station !== station) return;
      let sound = true;
      if (type === "scan" && ev.device_id === device) {
        const i = own.indexOf(ev.data);
        if (i >= 0) {
          own.splice(i, 1);
          sound = false;
        }
      }
      if (ev.prompt) show(ev.feedback, ev.prompt, sound);
      if (type === "station" && ev.input === "weight") {
        const w = document.querySelector('[data-testid="weight-read"]');
        w.textContent = ev.weight ? "Scale read " + ev.weight.value + " " + ev.weight.unit : "No stable weight";
      }
      refresh("work");
    };
  }

  function registerPage() {
    const reg = body.dataset.register;
    const digits = Number(body.dataset.digits || 2);
    const input = scanField();
    const tendered = document.querySelector('[data-testid="tendered"]');
    const state = document.querySelector('[data-testid="payment-state"]');
    const abort = document.querySelector('[data-action="abort-card"]');
    const saleBox = () => document.querySelector("[data-sale-id]") || { dataset: {} };
    const sessionId = () => {
      const el = document.querySelector("[data-session-id]");
      return el ? el.dataset.sessionId : "";
    };
    const words = {
      pending: "Waiting for the card…",
      waiting_for_terminal: "Waiting for the terminal…",
      approved: "Card approved",
      partial: "Card approved for part of it",
      declined: "Card declined",
      aborted: "Card payment aborted",
      failed: "Card payment failed",
    };
    let card = null;
    // Payments known to be over: a late "pending" (the answer to the request that started
    // one, overtaken by the terminal's event) never brings them back.
    const over = new Set();

    function cardState(id, st, error) {
      const live = st === "pending" || st === "waiting_for_terminal";
      if (live && over.has(id)) return;
      if (!live && st) over.add(id);
      card = live ? id : null;
      state.dataset.state = st || "";
      state.textContent = st ? (words[st] || st) + (error ? " — " + error : "") : "";
      abort.hidden = !card;
    }

    async function sale() {
      const id = saleBox().dataset.saleId;
      if (id) return id;
      const s = await call("POST", "/v1/pos/sales", { register_id: reg });
      return s.id;
    }

    async function act(what, fn, parts) {
      try {
        const msg = await fn();
        if (msg) show("good", msg, false);
      } catch (err) {
        if (err.status !== 401) show("bad", what + ": " + err.message, true);
      }
      await Promise.all((parts || ["sale", "session"]).map(refresh));
    }

    document.getElementById("item").addEventListener("submit", (e) => {
      e.preventDefault();
      const code = input.value.trim();
      if (!code) return;
      act("Not added", async () => {
        const id = await sale();
        const s = await call("POST", "/v1/pos/sales/" + id + "/lines", { code: code });
        input.value = "";
        const line = s.lines[s.lines.length - 1];
        beep(true);
        return line ? line.name + " — total " + (s.totals.total.amount / Math.pow(10, digits)).toFixed(digits) : "Added";
      }).then(() => input.focus());
    });

    async function pay(method) {
      const id = saleBox().dataset.saleId;
      if (!id) throw new Refused(409, "there is no open sale");
      const body = { method: method };
      const typed = tendered.value.trim();
      if (typed) {
        const amount = minorUnits(typed, digits);
        if (amount === null) throw new Refused(422, "“" + typed + "” is not an amount");
        if (method === "cash") body.tendered = amount;
        else body.amount = amount;
      }
      const p = await call("POST", "/v1/pos/sales/" + id + "/payments", body, {
        "Idempotency-Key": newKey(),
      });
      tendered.value = "";
      if (method === "card") {
        cardState(p.id, p.state, p.error);
        return "Card payment started: follow the terminal";
      }
      beep(true);
      return "Cash taken";
    }

    document.addEventListener("click", (e) => {
      const t = e.target.closest("[data-action]");
      if (!t) return;
      const a = t.dataset.action;
      if (a === "pay-cash") act("Cash not taken", () => pay("cash"));
      else if (a === "pay-card") act("Card not started", () => pay("card"));
      else if (a === "abort-card" && card) {
        act("Not aborted", async () => {
          await call("POST", "/v1/pos/payments/" + card + "/abort", {});
          return "Abort sent to the terminal";
        });
      } else if (a === "x-report") {
        const r = document.querySelector('[data-part="report"]');
        r.dataset.src = "/ui/register/" + encodeURIComponent(reg) + "?part=report&session=" + encodeURIComponent(sessionId());
        refresh("report");
      } else if (a === "refund-line") {
        act("Not refunded", async () => {
          const id = saleBox().dataset.lastSale;
          const why = reason() || "returned at the till";
          const r = await call("POST", "/v1/pos/sales/" + id + "/refunds", {
            lines: [{ line_id: t.dataset.lineId, qty: 1, restock: true }],
            reason: why,
            approval: approval(),
          });
          const paid = (r.tenders || []).map((x) => x.method + " " + (x.amount.amount / Math.pow(10, digits)).toFixed(digits)).join(", ");
          return "Refunded " + (r.amount.amount / Math.pow(10, digits)).toFixed(digits) + (paid ? " — " + paid : "");
        });
      } else if (a === "reprint" || a === "gift-receipt") {
        const last = saleBox().dataset.lastSale;
        const gift = a === "gift-receipt";
        act("No reprint", async () => {
          if (!last) throw new Refused(409, "no completed sale to reprint");
          try {
            await call("POST", "/v1/pos/sales/" + last + "/receipt", { copy: !gift, gift: gift });
          } catch (err) {
            if (err.status === 404 || err.status === 405 || err.status === 501) {
              throw new Refused(err.status, "reprinting is not available on this node yet");
            }
            throw err;
          }
          return gift ? "Gift receipt sent to the printer" : "Receipt copy sent to the printer";
        }, []);
      } else if (a === "attach-customer") {
        act("Customer not attached", async () => {
          const id = saleBox().dataset.saleId;
          if (id) {
            await call("PUT", "/v1/pos/sales/" + id + "/customer", { customer_id: t.dataset.customerId });
          } else {
            await call("POST", "/v1/pos/sales", { register_id: reg, customer_id: t.dataset.customerId });
          }
          return "Customer attached";
        });
      }
    });

    document.getElementById("customer-search").addEventListener("submit", (e) => {
      e.preventDefault();
      const q = e.target.elements.q.value.trim();
      const part = document.querySelector('[data-part="customers"]');
      part.dataset.src = "/ui/register/" + encodeURIComponent(reg) + "?part=customers&q=" + encodeURIComponent(q);
      refresh("customers");
    });

    // A supervisor's badge and PIN typed in for the next change that needs them, used once.
    function approval() {
      const b = document.getElementById("approval-badge");
      const p = document.getElementById("approval-pin");
      if (!b.value.trim()) return null;
      const a = { badge: b.value.trim().replace(/^EMP:/, ""), pin: p.value.trim().replace(/^PIN:/, "") };
      b.value = "";
      p.value = "";
      return a;
    }

    function reason() {
      const r = document.querySelector('[data-testid="void-reason"]');
      const v = r.value.trim();
      r.value = "";
      return v;
    }

    document.getElementById("void").addEventListener("submit", (e) => {
      e.preventDefault();
      act("Not voided", async () => {
        const box = saleBox();
        const id = box.dataset.saleId || box.dataset.lastSale;
        if (!id) throw new Refused(409, "there is no sale to void");
        const why = reason();
        if (!why) throw new Refused(422, "say why the sale is voided");
        await call("POST", "/v1/pos/sales/" + id + "/void", { reason: why, approval: approval() });
        return "Sale voided";
      });
    });

    document.getElementById("discount").addEventListener("submit", (e) => {
      e.preventDefault();
      const f = e.target.elements;
      act("No discount", async () => {
        const id = saleBox().dataset.saleId;
        if (!id) throw new Refused(409, "there is no open sale");
        await call("POST", "/v1/pos/sales/" + id + "/discounts", {
          line_id: null,
          percent: f.percent.value.trim(),
          reason: f.reason.value.trim() || null,
          approval: approval(),
        });
        f.percent.value = "";
        f.reason.value = "";
        return "Discount applied";
      });
    });

    // The session forms are redrawn with their part: listen on the document.
    document.addEventListener("submit", (e) => {
      if (e.target.id === "open-session") {
        e.preventDefault();
        const v = e.target.elements.opening_float.value;
        act("Drawer not opened", async () => {
          const amount = minorUnits(v, digits);
          if (amount === null) throw new Refused(422, "“" + v + "” is not an amount");
          await call("POST", "/v1/pos/registers/" + reg + "/sessions", { opening_float: amount });
          return "Drawer open";
        });
      } else if (e.target.id === "close-session") {
        e.preventDefault();
        const f = e.target.elements;
        const sid = sessionId();
        act("Drawer not closed", async () => {
          const amount = minorUnits(f.counted_cash.value, digits);
          if (amount === null) throw new Refused(422, "“" + f.counted_cash.value + "” is not an amount");
          try {
            await call("POST", "/v1/pos/sessions/" + sid + "/close", {
              counted_cash: amount,
              note: f.note.value.trim() || null,
            });
          } catch (err) {
            if (err.status === 404 || err.status === 405 || err.status === 501) {
              throw new Refused(err.status, "closing the drawer is not available on this node yet");
            }
            throw err;
          }
          const r = document.querySelector('[data-part="report"]');
          r.dataset.src = "/ui/register/" + encodeURIComponent(reg) + "?part=report&session=" + encodeURIComponent(sid);
          await refresh("report");
          return "Drawer closed";
        });
      }
    });

    handlers.register = (type, ev) => {
      if (ev.register_id !== reg) return;
      if (type === "pos.payment" && ev.method === "card") cardState(ev.payment_id, ev.state, ev.error);
      refresh("sale");
      if (type === "pos.register") {
        refresh("session");
        const r = document.querySelector('[data-part="report"]');
        if (r.dataset.src.includes("session=")) refresh("report");
      }
    };

    // The node's word on the sale's last card payment wins over events missed meanwhile; a
    // sale without one clears what the previous sale's card said.
    redrawn.sale = () => {
      const box = saleBox();
      if (box.dataset.cardPayment) cardState(box.dataset.cardPayment, box.dataset.cardState);
      else if (!card) cardState(null, "");
    };
    redrawn.sale();
  }

  function customerPage() {
    const reg = body.dataset.register;
    handlers.customer = (type, ev) => {
      if (ev.register_id === reg) refresh("sale");
    };
  }

  function supervisorPage() {
    const on = {
      "device.state": ["devices"],
      "sync.state": ["sync", "deadletters"],
      "order.status_changed": ["orders", "putbacks"],
      "pos.register": ["registers"],
      "pos.payment": ["registers"],
      "pos.sale": ["registers"],
      scan: ["audit"],
      station: ["audit", "orders"],
    };
    let pendingAudit = null;
    handlers.supervisor = (type, ev) => {
      for (const p of on[type] || []) {
        if (p === "audit") {
          // Scans come in bursts: the audit list is read at most twice a second.
          if (!pendingAudit) pendingAudit = setTimeout(() => { pendingAudit = null; refresh("audit"); }, 500);
        } else refresh(p);
      }
    };
    // Queue depth and ages move without an event of their own.
    setInterval(() => { refresh("sync"); refresh("deadletters"); refresh("putbacks"); }, 5000);
  }

  // Buttons that post to the API and redraw parts: dead-letter retry and discard.
  document.addEventListener("click", async (e) => {
    const b = e.target.closest("[data-post]");
    if (b) {
      if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
      b.disabled = true;
      try {
        await call("POST", b.dataset.post, {});
      } catch (err) {
        if (err.status !== 401) alert(err.message);
      }
      for (const p of (b.dataset.refresh || "").split(" ").filter(Boolean)) refresh(p);
      return;
    }
    if (e.target.closest('[data-action="logout"]')) logout("");
  });

  // ---- start ----------------------------------------------------------------------------------

  const f = scanField();
  const kept = sessionStorage.getItem(keep);
  if (f && kept) {
    f.value = kept;
    sessionStorage.removeItem(keep);
  }
  ({
    login: loginPage,
    station: stationPage,
    register: registerPage,
    customer: customerPage,
    supervisor: supervisorPage,
  })[page]?.();
  if (page !== "login") {
    connect();
    idleLogout();
  }
})();
