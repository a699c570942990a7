//! nexo Sale-to-POI messages as JSON (the shape of Adyen's Terminal API), one object per line
//! over TCP. Response types whitelist the few fields the edge may keep — masked PAN, brand,
//! approval code, terminal transaction id, amounts and result — so anything else a terminal
//! sends (track data, full PAN, receipts) is dropped by the parser and never reaches memory
//! that outlives the parse, logs or storage.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::decimal::Decimal;
use crate::error::{Error, Result};

/// A JSON number kept exact (amounts are decimals in major units on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonDecimal(pub Decimal);

impl Serialize for JsonDecimal {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for JsonDecimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw: Box<RawValue> = Deserialize::deserialize(d)?;
        let text = raw.get().trim_matches('"');
        Decimal::parse(text)
            .map(JsonDecimal)
            .map_err(serde::de::Error::custom)
    }
}

/// Header of every message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageHeader {
    /// "3.0".
    #[serde(
        rename = "ProtocolVersion",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub protocol_version: Option<String>,
    /// Service / Device / Event.
    #[serde(rename = "MessageClass")]
    pub message_class: String,
    /// Payment, Abort, TransactionStatus, Reversal…
    #[serde(rename = "MessageCategory")]
    pub message_category: String,
    /// Request / Response / Notification.
    #[serde(rename = "MessageType")]
    pub message_type: String,
    /// Pairs a request with its response; unique per terminal within 48 h.
    #[serde(rename = "ServiceID", skip_serializing_if = "Option::is_none", default)]
    pub service_id: Option<String>,
    /// The till.
    #[serde(rename = "SaleID")]
    pub sale_id: String,
    /// The terminal.
    #[serde(rename = "POIID")]
    pub poi_id: String,
}

/// `SaleTransactionID` / `POITransactionID`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionId {
    /// The id.
    #[serde(rename = "TransactionID")]
    pub transaction_id: String,
    /// ISO-8601 time.
    #[serde(rename = "TimeStamp")]
    pub time_stamp: String,
}

/// `SaleData`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleData {
    /// Our reference of the sale.
    #[serde(rename = "SaleTransactionID")]
    pub sale_transaction_id: TransactionId,
}

/// `AmountsReq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountsReq {
    /// ISO 4217.
    #[serde(rename = "Currency")]
    pub currency: String,
    /// Major units, exact.
    #[serde(rename = "RequestedAmount")]
    pub requested_amount: JsonDecimal,
}

/// `PaymentTransaction`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentTransaction {
    /// Amount requested.
    #[serde(rename = "AmountsReq")]
    pub amounts_req: AmountsReq,
}

/// `PaymentRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    /// Sale reference.
    #[serde(rename = "SaleData")]
    pub sale_data: SaleData,
    /// Amount.
    #[serde(rename = "PaymentTransaction")]
    pub payment_transaction: PaymentTransaction,
}

/// `MessageReference`: which earlier request an abort or status query is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReference {
    /// Category of the referenced request.
    #[serde(rename = "MessageCategory")]
    pub message_category: String,
    /// Till of the referenced request.
    #[serde(rename = "SaleID")]
    pub sale_id: String,
    /// ServiceID of the referenced request.
    #[serde(rename = "ServiceID")]
    pub service_id: String,
}

/// `AbortRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortRequest {
    /// The running request.
    #[serde(rename = "MessageReference")]
    pub message_reference: MessageReference,
    /// Free text.
    #[serde(rename = "AbortReason")]
    pub abort_reason: String,
}

/// `TransactionStatusRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionStatusRequest {
    /// The request whose outcome is wanted.
    #[serde(rename = "MessageReference")]
    pub message_reference: MessageReference,
}

/// `OriginalPOITransaction`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalPoiTransaction {
    /// Terminal transaction id of the payment to reverse.
    #[serde(rename = "POITransactionID")]
    pub poi_transaction_id: TransactionId,
}

/// `ReversalRequest`: void or referenced refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalRequest {
    /// What to reverse.
    #[serde(rename = "OriginalPOITransaction")]
    pub original: OriginalPoiTransaction,
    /// CustCancel, MerchantCancel, Malfunction, Unable2Compl.
    #[serde(rename = "ReversalReason")]
    pub reason: String,
    /// Partial amount; absent = full.
    #[serde(
        rename = "ReversedAmount",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub reversed_amount: Option<JsonDecimal>,
}

/// `Response` block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseResult {
    /// Success, Partial, Failure.
    #[serde(rename = "Result")]
    pub result: String,
    /// Why it failed.
    #[serde(
        rename = "ErrorCondition",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub error_condition: Option<String>,
}

/// `POIData`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoiData {
    /// Terminal transaction id, needed for reversals.
    #[serde(rename = "POITransactionID")]
    pub poi_transaction_id: TransactionId,
}

/// Card data that may be kept: masked PAN and brand only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardData {
    /// Masked PAN (at most BIN + last 4); re-masked on parse when it shows more.
    #[serde(
        rename = "MaskedPan",
        default,
        deserialize_with = "masked",
        skip_serializing_if = "Option::is_none"
    )]
    pub masked_pan: Option<String>,
    /// Scheme.
    #[serde(
        rename = "PaymentBrand",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub payment_brand: Option<String>,
    /// How the card was read; nexo sends a list (`["Contactless"]`), the first is kept.
    #[serde(
        rename = "EntryMode",
        default,
        deserialize_with = "first_mode",
        serialize_with = "mode_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub entry_mode: Option<String>,
}

fn first_mode<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Mode {
        One(String),
        Many(Vec<String>),
    }
    let m: Option<Mode> = Option::deserialize(d)?;
    let mode = match m {
        None => None,
        Some(Mode::One(s)) => Some(s),
        Some(Mode::Many(v)) => v.into_iter().next(),
    };
    // A short word from a fixed vocabulary; anything longer or with digits is not an entry mode
    // and is not kept.
    Ok(mode.filter(|s| s.len() <= 20 && s.chars().all(|c| c.is_ascii_alphabetic())))
}

fn mode_list<S: Serializer>(m: &Option<String>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match m {
        Some(m) => [m].serialize(s),
        None => s.serialize_none(),
    }
}

fn masked<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.map(|s| mask_pan(&s)))
}

/// Returns a safe masked PAN: kept when it shows at most 10 digits (BIN 6 + last 4), else only
/// the last four digits survive.
pub fn mask_pan(s: &str) -> String {
    let digits: Vec<char> = s.chars().filter(char::is_ascii_digit).collect();
    let clean = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '*' | 'X' | 'x' | ' ' | '-' | '.'));
    if digits.len() <= 10 && clean && s.len() <= 32 {
        return s.to_string();
    }
    let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("**** {last4}")
}

/// `PaymentInstrumentData`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentInstrumentData {
    /// Card data.
    #[serde(rename = "CardData", default, skip_serializing_if = "Option::is_none")]
    pub card_data: Option<CardData>,
}

/// `AmountsResp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountsResp {
    /// Authorised amount, may be less than requested (Partial).
    #[serde(
        rename = "AuthorizedAmount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub authorized_amount: Option<JsonDecimal>,
    /// Currency.
    #[serde(rename = "Currency", default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// `PaymentAcquirerData`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAcquirerData {
    /// Approval code; absent on offline approvals.
    #[serde(
        rename = "ApprovalCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub approval_code: Option<String>,
}

/// `PaymentResult`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentResultData {
    /// Instrument.
    #[serde(
        rename = "PaymentInstrumentData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instrument: Option<PaymentInstrumentData>,
    /// Amounts.
    #[serde(
        rename = "AmountsResp",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub amounts: Option<AmountsResp>,
    /// Acquirer data.
    #[serde(
        rename = "PaymentAcquirerData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub acquirer: Option<PaymentAcquirerData>,
    /// False when approved offline by the terminal.
    #[serde(
        rename = "OnlineFlag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub online: Option<bool>,
}

/// `PaymentResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentResponse {
    /// Result.
    #[serde(rename = "Response")]
    pub response: ResponseResult,
    /// Echo of our sale reference.
    #[serde(rename = "SaleData", default, skip_serializing_if = "Option::is_none")]
    pub sale_data: Option<SaleData>,
    /// Terminal transaction.
    #[serde(rename = "POIData", default, skip_serializing_if = "Option::is_none")]
    pub poi_data: Option<PoiData>,
    /// Card and amounts.
    #[serde(
        rename = "PaymentResult",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub payment_result: Option<PaymentResultData>,
}

/// `ReversalResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalResponse {
    /// Result (acknowledgement; the final refund outcome may come later).
    #[serde(rename = "Response")]
    pub response: ResponseResult,
    /// Terminal transaction of the reversal.
    #[serde(rename = "POIData", default, skip_serializing_if = "Option::is_none")]
    pub poi_data: Option<PoiData>,
}

/// `RepeatedResponseMessageBody`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatedBody {
    /// The original payment response.
    #[serde(
        rename = "PaymentResponse",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub payment_response: Option<PaymentResponse>,
    /// The original reversal response.
    #[serde(
        rename = "ReversalResponse",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reversal_response: Option<ReversalResponse>,
}

/// `RepeatedMessageResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatedMessageResponse {
    /// Header of the original response.
    #[serde(rename = "MessageHeader")]
    pub message_header: MessageHeader,
    /// Its body.
    #[serde(rename = "RepeatedResponseMessageBody")]
    pub body: RepeatedBody,
}

/// `TransactionStatusResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionStatusResponse {
    /// Success when found and processed; Failure with InProgress / NotFound otherwise.
    #[serde(rename = "Response")]
    pub response: ResponseResult,
    /// The original response when processed.
    #[serde(
        rename = "RepeatedMessageResponse",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub repeated: Option<RepeatedMessageResponse>,
}

/// `SaleToPOIRequest` content: a header and exactly one body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleToPoiRequest {
    /// Header.
    #[serde(rename = "MessageHeader")]
    pub header: MessageHeader,
    /// Payment.
    #[serde(
        rename = "PaymentRequest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub payment: Option<PaymentRequest>,
    /// Abort.
    #[serde(
        rename = "AbortRequest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub abort: Option<AbortRequest>,
    /// Transaction status.
    #[serde(
        rename = "TransactionStatusRequest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<TransactionStatusRequest>,
    /// Reversal.
    #[serde(
        rename = "ReversalRequest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reversal: Option<ReversalRequest>,
}

/// `SaleToPOIResponse` content: a header and exactly one body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleToPoiResponse {
    /// Header.
    #[serde(rename = "MessageHeader")]
    pub header: MessageHeader,
    /// Payment.
    #[serde(
        rename = "PaymentResponse",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub payment: Option<PaymentResponse>,
    /// Transaction status.
    #[serde(
        rename = "TransactionStatusResponse",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<TransactionStatusResponse>,
    /// Reversal.
    #[serde(
        rename = "ReversalResponse",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reversal: Option<ReversalResponse>,
}

#[derive(Serialize, Deserialize)]
struct RequestEnvelope {
    #[serde(rename = "SaleToPOIRequest")]
    inner: SaleToPoiRequest,
}

#[derive(Serialize, Deserialize)]
struct ResponseEnvelope {
    #[serde(rename = "SaleToPOIResponse")]
    inner: SaleToPoiResponse,
}

/// Encodes a request as one JSON line (with `\n`).
pub fn encode_request(r: &SaleToPoiRequest) -> Result<Vec<u8>> {
    let mut v = serde_json::to_vec(&RequestEnvelope { inner: r.clone() })?;
    v.push(b'\n');
    Ok(v)
}

/// Encodes a response as one JSON line (with `\n`).
pub fn encode_response(r: &SaleToPoiResponse) -> Result<Vec<u8>> {
    let mut v = serde_json::to_vec(&ResponseEnvelope { inner: r.clone() })?;
    v.push(b'\n');
    Ok(v)
}

/// Decodes one response line; unknown fields are dropped here.
pub fn decode_response(line: &[u8]) -> Result<SaleToPoiResponse> {
    let e: ResponseEnvelope = serde_json::from_slice(line)
        .map_err(|e| Error::Protocol(format!("terminal response: {}", e.classify_msg())))?;
    Ok(e.inner)
}

/// Decodes one request line (terminal side, used by the simulator).
pub fn decode_request(line: &[u8]) -> Result<SaleToPoiRequest> {
    let e: RequestEnvelope = serde_json::from_slice(line)
        .map_err(|e| Error::Protocol(format!("terminal request: {}", e.classify_msg())))?;
    Ok(e.inner)
}

trait ClassifyMsg {
    fn classify_msg(&self) -> String;
}

impl ClassifyMsg for serde_json::Error {
    /// Error text without echoing input (serde_json messages can quote field values).
    fn classify_msg(&self) -> String {
        format!(
            "{:?} error at line {} column {}",
            self.classify(),
            self.line(),
            self.column()
        )
    }
}

/// A header for a request.
pub fn header(
    category: &str,
    service_id: &str,
    sale_id: &str,
    poi_id: &str,
    version: &str,
) -> MessageHeader {
    MessageHeader {
        protocol_version: Some(version.to_string()),
        message_class: "Service".into(),
        message_category: category.into(),
        message_type: "Request".into(),
        service_id: Some(service_id.to_string()),
        sale_id: sale_id.to_string(),
        poi_id: poi_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_are_exact_json_numbers() {
        let r = SaleToPoiRequest {
            header: header("Payment", "A1", "till-1", "P400-1", "3.0"),
            abort: None,
            status: None,
            reversal: None,
            payment: Some(PaymentRequest {
                sale_data: SaleData {
                    sale_transaction_id: TransactionId {
                        transaction_id: "sale-1".into(),
                        time_stamp: "2026-11-22T10:00:00Z".into(),
                    },
                },
                payment_transaction: PaymentTransaction {
                    amounts_req: AmountsReq {
                        currency: "EUR".into(),
                        requested_amount: JsonDecimal(Decimal::new(1099, 2).unwrap()),
                    },
                },
            }),
        };
        let line = encode_request(&r).unwrap();
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(text.contains("\"RequestedAmount\":10.99"), "{text}");
        assert!(text.starts_with("{\"SaleToPOIRequest\":{\"MessageHeader\""));
        assert_eq!(decode_request(&line).unwrap(), r);
    }

    #[test]
    fn no_card_data_ever_terminal_results_are_whitelisted_and_masked() {
        let line = br#"{"SaleToPOIResponse":{"MessageHeader":{"MessageClass":"Service","MessageCategory":"Payment","MessageType":"Response","ServiceID":"A1","SaleID":"t","POIID":"p"},
          "PaymentResponse":{"Response":{"Result":"Success","AdditionalResponse":"pan=4111111111111111"},
          "POIData":{"POITransactionID":{"TransactionID":"T.1","TimeStamp":"x"}},
          "PaymentResult":{"PaymentInstrumentData":{"CardData":{"MaskedPan":"4111111111111111","PaymentBrand":"visa","Track2":";4111111111111111=2512?"}},
          "AmountsResp":{"AuthorizedAmount":10.99,"Currency":"EUR"},"PaymentAcquirerData":{"ApprovalCode":"123456"}}}}}"#;
        let r = decode_response(line).unwrap();
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("4111111111111111"), "{dbg}");
        assert!(!dbg.contains("Track2"));
        let card = r
            .payment
            .unwrap()
            .payment_result
            .unwrap()
            .instrument
            .unwrap()
            .card_data
            .unwrap();
        assert_eq!(card.masked_pan.as_deref(), Some("**** 1111"));
        assert_eq!(mask_pan("541333 **** 9999"), "541333 **** 9999");
        // A malformed line's error does not echo the input.
        let e = decode_response(b"{\"SaleToPOIResponse\": 4111111111111111}").unwrap_err();
        assert!(!e.to_string().contains("4111111111111111"));
    }

    proptest! {
        #[test]
        fn masked_pan_never_shows_more_than_ten_digits(s in "[0-9 *X-]{0,40}") {
            let m = mask_pan(&s);
            prop_assert!(m.chars().filter(char::is_ascii_digit).count() <= 10);
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_response(&data);
            let _ = decode_request(&data);
        }
    }
}
