//! Payment-terminal simulator: nexo-style JSON lines. Modes per payment: approve, decline,
//! approve part, wait for the card until aborted, lose the response (approve, then drop the
//! connection), stay silent (approve, answer only a status query), stay in progress for a number
//! of status queries, answer late (NotFound to the status query, the approval only later) and
//! busy. Its responses carry extra card fields (a full test PAN and track data) that a correct
//! client must drop.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Action, Behavior};
use crate::decimal::Decimal;
use crate::protocol::nexo::{
    self, AmountsResp, CardData, JsonDecimal, MessageHeader, PaymentAcquirerData,
    PaymentInstrumentData, PaymentResponse, PaymentResultData, PoiData, RepeatedBody,
    RepeatedMessageResponse, ResponseResult, ReversalResponse, SaleToPoiResponse, TransactionId,
    TransactionStatusResponse,
};

/// The full test card number the simulator leaks in extra fields; must never show up in
/// anything the node keeps or logs.
pub const TEST_PAN: &str = "4111111111111111";

/// What the terminal does with the next payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminalMode {
    /// Approve.
    Approve,
    /// Decline (Refusal).
    Decline,
    /// Wait for the card forever (until aborted).
    Timeout,
    /// Approve, but drop the connection instead of answering.
    LoseResponse,
    /// Authorise only half of the requested amount (rounded down to the cent).
    Partial,
    /// Approve, but never answer the request itself; a status query gets the repeated response.
    Silent,
    /// The card is being read (PIN entry…): this many status queries answer `InProgress`, then
    /// the payment is approved and the next query returns it. The request itself is never
    /// answered.
    InProgress(u32),
    /// Answer the status query with `NotFound`, then approve anyway and send that approval just
    /// before the answer to the next request — a response for an attempt the node already gave
    /// up.
    LateApproval,
    /// Refuse with `Busy` (a dialogue from elsewhere is running).
    Busy,
    /// The request never reaches the card reader: nothing is charged or answered, and a status
    /// query answers `NotFound`.
    Ignore,
}

/// One charge the terminal made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    /// Sale reference.
    pub sale_transaction_id: String,
    /// Amount.
    pub amount: Decimal,
    /// Terminal transaction id.
    pub terminal_transaction_id: String,
}

/// Shared terminal state.
#[derive(Debug, Default)]
pub struct TerminalState {
    /// Modes for the next payments (default approve).
    pub modes: VecDeque<TerminalMode>,
    /// Approved charges.
    pub charges: Vec<Charge>,
    /// Reversals accepted.
    pub reversals: Vec<String>,
    /// Payment requests received.
    pub payment_requests: u32,
    /// Status requests received.
    pub status_requests: u32,
    /// Abort requests received.
    pub abort_requests: u32,
    /// Accepted reversals: (terminal transaction id, cents).
    pub reversed: Vec<(String, i64)>,
    /// Refuse this many coming reversals (`NotAllowed`), as a terminal whose acquirer refuses.
    pub refuse_reversals: u32,
    done: HashMap<String, SaleToPoiResponse>,
    in_progress: Option<(MessageHeader, String)>,
    /// `InProgress(n)` payments: ServiceID → (queries left, the approval to give after).
    slow: HashMap<String, (u32, SaleToPoiResponse)>,
    /// A `LateApproval` payment's response, sent before the next answer.
    late: Option<SaleToPoiResponse>,
    /// ServiceIDs a status query must not find (their approval is still to come, late).
    hidden: Vec<String>,
    seq: u32,
}

impl TerminalState {
    /// Cents given back on a terminal transaction by accepted reversals.
    pub fn reversed_cents(&self, txn: &str) -> i64 {
        self.reversed
            .iter()
            .filter(|(t, _)| t == txn)
            .map(|(_, a)| *a)
            .sum()
    }

    /// Charges minus reversals, per sale reference: what each sale's customer really paid.
    pub fn net_charged(&self, sale: &str) -> Vec<&Charge> {
        self.charges
            .iter()
            .filter(|c| {
                c.sale_transaction_id == sale
                    && !self.reversals.contains(&c.terminal_transaction_id)
            })
            .collect()
    }

    fn charge(&mut self, sale: &str, amount: Decimal) -> String {
        self.seq += 1;
        let txn = format!("T{:06}.PSP{:06}", self.seq, self.seq);
        self.charges.push(Charge {
            sale_transaction_id: sale.to_string(),
            amount,
            terminal_transaction_id: txn.clone(),
        });
        txn
    }
}

/// An amount in cents (rounded down below the cent).
fn cents(d: Decimal) -> i64 {
    let scale = d.scale();
    if scale <= 2 {
        d.mantissa().saturating_mul(10i64.pow(2 - scale))
    } else {
        d.mantissa() / 10i64.pow((scale - 2).min(18))
    }
}

/// Half of `amount`, rounded down to the cent.
fn half(amount: Decimal) -> Decimal {
    Decimal::new(cents(amount) / 2, 2).unwrap_or(amount)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The simulated terminal.
#[derive(Debug)]
pub struct PaymentTerminal {
    state: Arc<Mutex<TerminalState>>,
    buf: Vec<u8>,
}

impl PaymentTerminal {
    /// A terminal that approves unless told otherwise.
    pub fn new() -> Self {
        PaymentTerminal {
            state: Arc::new(Mutex::new(TerminalState::default())),
            buf: Vec::new(),
        }
    }

    /// Shared state.
    pub fn state(&self) -> Arc<Mutex<TerminalState>> {
        self.state.clone()
    }
}

impl Default for PaymentTerminal {
    fn default() -> Self {
        PaymentTerminal::new()
    }
}

fn response_header(req: &MessageHeader) -> MessageHeader {
    MessageHeader {
        protocol_version: req.protocol_version.clone(),
        message_class: req.message_class.clone(),
        message_category: req.message_category.clone(),
        message_type: "Response".into(),
        service_id: req.service_id.clone(),
        sale_id: req.sale_id.clone(),
        poi_id: req.poi_id.clone(),
    }
}

fn failure(cond: &str) -> ResponseResult {
    ResponseResult {
        result: "Failure".into(),
        error_condition: Some(cond.into()),
    }
}

fn payment_response(
    header: MessageHeader,
    sale: &str,
    result: ResponseResult,
    approved: Option<(&Decimal, &str)>,
) -> SaleToPoiResponse {
    let payment_result = approved.map(|(amount, _)| PaymentResultData {
        instrument: Some(PaymentInstrumentData {
            card_data: Some(CardData {
                masked_pan: Some("411111 **** 1111".into()),
                payment_brand: Some("visa".into()),
                entry_mode: Some("Contactless".into()),
            }),
        }),
        amounts: Some(AmountsResp {
            authorized_amount: Some(JsonDecimal(*amount)),
            currency: Some("EUR".into()),
        }),
        acquirer: Some(PaymentAcquirerData {
            approval_code: Some("A1B2C3".into()),
        }),
        online: Some(true),
    });
    SaleToPoiResponse {
        header,
        payment: Some(PaymentResponse {
            response: result,
            sale_data: Some(nexo::SaleData {
                sale_transaction_id: TransactionId {
                    transaction_id: sale.to_string(),
                    time_stamp: "2026-11-22T10:00:00.000Z".into(),
                },
            }),
            poi_data: approved.map(|(_, txn)| PoiData {
                poi_transaction_id: TransactionId {
                    transaction_id: txn.to_string(),
                    time_stamp: "2026-11-22T10:00:01.000Z".into(),
                },
            }),
            payment_result,
        }),
        status: None,
        reversal: None,
    }
}

/// Serialises a response and adds card data a terminal might send but the node must drop.
fn with_leaks(r: &SaleToPoiResponse) -> Vec<u8> {
    let mut line = nexo::encode_response(r).unwrap_or_default();
    if let Ok(text) = std::str::from_utf8(&line) {
        let leaked = text.replace(
            "\"PaymentBrand\":\"visa\"",
            &format!("\"PaymentBrand\":\"visa\",\"Track2\":\";{TEST_PAN}=2912101?\",\"PAN\":\"{TEST_PAN}\""),
        );
        line = leaked.into_bytes();
    }
    line
}

impl Behavior for PaymentTerminal {
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>) -> Action {
        self.buf.extend_from_slice(input);
        let mut action = Action::Continue;
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let Ok(req) = nexo::decode_request(&line) else {
                continue;
            };
            let mut st = lock(&self.state);
            let hdr = response_header(&req.header);
            let sid = req.header.service_id.clone().unwrap_or_default();
            if let Some(p) = &req.payment {
                st.payment_requests += 1;
                let sale = p.sale_data.sale_transaction_id.transaction_id.clone();
                let amount = p.payment_transaction.amounts_req.requested_amount.0;
                if st.in_progress.is_some() {
                    out.extend(with_leaks(&payment_response(
                        hdr,
                        &sale,
                        failure("Busy"),
                        None,
                    )));
                    continue;
                }
                if let Some(late) = st.late.take() {
                    out.extend(with_leaks(&late));
                }
                let mode = st.modes.pop_front().unwrap_or(TerminalMode::Approve);
                let ok = ResponseResult {
                    result: "Success".into(),
                    error_condition: None,
                };
                match mode {
                    TerminalMode::Approve | TerminalMode::LoseResponse | TerminalMode::Silent => {
                        let txn = st.charge(&sale, amount);
                        let r = payment_response(hdr, &sale, ok, Some((&amount, &txn)));
                        st.done.insert(sid, r.clone());
                        match mode {
                            TerminalMode::LoseResponse => action = Action::Disconnect,
                            TerminalMode::Silent => {}
                            _ => out.extend(with_leaks(&r)),
                        }
                    }
                    TerminalMode::Partial => {
                        let part = half(amount);
                        let txn = st.charge(&sale, part);
                        let partial = ResponseResult {
                            result: "Partial".into(),
                            error_condition: None,
                        };
                        let r = payment_response(hdr, &sale, partial, Some((&part, &txn)));
                        st.done.insert(sid, r.clone());
                        out.extend(with_leaks(&r));
                    }
                    TerminalMode::InProgress(n) => {
                        let txn = st.charge(&sale, amount);
                        let r = payment_response(hdr, &sale, ok, Some((&amount, &txn)));
                        st.slow.insert(sid, (n, r));
                    }
                    TerminalMode::LateApproval => {
                        let txn = st.charge(&sale, amount);
                        let r = payment_response(hdr, &sale, ok, Some((&amount, &txn)));
                        st.done.insert(sid.clone(), r.clone());
                        st.hidden.push(sid);
                        st.late = Some(r);
                    }
                    TerminalMode::Decline => {
                        let r = payment_response(hdr, &sale, failure("Refusal"), None);
                        st.done.insert(sid, r.clone());
                        out.extend(with_leaks(&r));
                    }
                    TerminalMode::Busy => {
                        out.extend(with_leaks(&payment_response(
                            hdr,
                            &sale,
                            failure("Busy"),
                            None,
                        )));
                    }
                    TerminalMode::Timeout => st.in_progress = Some((hdr, sale)),
                    TerminalMode::Ignore => {}
                }
            } else if let Some(a) = &req.abort {
                st.abort_requests += 1;
                let target = a.message_reference.service_id.clone();
                let matches = st
                    .in_progress
                    .as_ref()
                    .is_some_and(|(h, _)| h.service_id.as_deref() == Some(target.as_str()));
                if matches {
                    if let Some((h, sale)) = st.in_progress.take() {
                        let r = payment_response(h, &sale, failure("Aborted"), None);
                        st.done.insert(target, r.clone());
                        out.extend(with_leaks(&r));
                    }
                }
            } else if let Some(s) = &req.status {
                st.status_requests += 1;
                let target = &s.message_reference.service_id;
                if let Some((left, r)) = st.slow.remove(target) {
                    if left == 0 {
                        st.done.insert(target.clone(), r);
                    } else {
                        st.slow.insert(target.clone(), (left - 1, r));
                    }
                }
                let hidden = st.hidden.contains(target);
                let slow = st.slow.contains_key(target);
                let resp = if hidden {
                    st.hidden.retain(|h| h != target);
                    TransactionStatusResponse {
                        response: failure("NotFound"),
                        repeated: None,
                    }
                } else if slow {
                    TransactionStatusResponse {
                        response: failure("InProgress"),
                        repeated: None,
                    }
                } else if let Some(done) = st.done.get(target) {
                    TransactionStatusResponse {
                        response: ResponseResult {
                            result: "Success".into(),
                            error_condition: None,
                        },
                        repeated: Some(RepeatedMessageResponse {
                            message_header: done.header.clone(),
                            body: RepeatedBody {
                                payment_response: done.payment.clone(),
                                reversal_response: done.reversal.clone(),
                            },
                        }),
                    }
                } else if st
                    .in_progress
                    .as_ref()
                    .is_some_and(|(h, _)| h.service_id.as_deref() == Some(target.as_str()))
                {
                    TransactionStatusResponse {
                        response: failure("InProgress"),
                        repeated: None,
                    }
                } else {
                    TransactionStatusResponse {
                        response: failure("NotFound"),
                        repeated: None,
                    }
                };
                let r = SaleToPoiResponse {
                    header: hdr,
                    payment: None,
                    status: Some(resp),
                    reversal: None,
                };
                out.extend(with_leaks(&r));
            } else if let Some(rv) = &req.reversal {
                let txn = rv.original.poi_transaction_id.transaction_id.clone();
                // Full or partial (ReversedAmount), several partial ones, never more than charged.
                let charged = st
                    .charges
                    .iter()
                    .find(|c| c.terminal_transaction_id == txn)
                    .map(|c| cents(c.amount));
                let done: i64 = st
                    .reversed
                    .iter()
                    .filter(|(t, _)| *t == txn)
                    .map(|(_, a)| *a)
                    .sum();
                let asked = rv
                    .reversed_amount
                    .map(|a| cents(a.0))
                    .or(charged.map(|c| c - done));
                let fits = matches!((charged, asked), (Some(c), Some(a)) if a > 0 && done + a <= c);
                let refuse = st.refuse_reversals > 0;
                if refuse {
                    st.refuse_reversals -= 1;
                }
                let response = if fits && !refuse {
                    st.reversed.push((txn.clone(), asked.unwrap_or(0)));
                    st.reversals.push(txn.clone());
                    ResponseResult {
                        result: "Success".into(),
                        error_condition: None,
                    }
                } else {
                    failure("NotAllowed")
                };
                let r = SaleToPoiResponse {
                    header: hdr,
                    payment: None,
                    status: None,
                    reversal: Some(ReversalResponse {
                        response,
                        poi_data: Some(PoiData {
                            poi_transaction_id: TransactionId {
                                transaction_id: format!("R-{txn}"),
                                time_stamp: "2026-11-22T10:05:00.000Z".into(),
                            },
                        }),
                    }),
                };
                st.done.insert(sid, r.clone());
                out.extend(with_leaks(&r));
            }
        }
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_rounds_down_to_the_cent() {
        let d = |s: &str| Decimal::parse(s).expect("decimal");
        assert_eq!(half(d("10.99")), d("5.49"));
        assert_eq!(half(d("10")), d("5.00"));
        assert_eq!(half(d("0.015")), d("0.00"));
        assert_eq!(half(d("7.5")), d("3.75"));
    }
}
