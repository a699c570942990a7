//! What the MQTT hub and the device tasks share: the operator [`Feedback`] a device plays, the
//! [`MqttInbound`] messages the hub routes to a device, and the [`MqttDeviceLink`] through which
//! one device reads them and publishes its feedback. Kept apart so that `mqtt` and `device`
//! depend on this module and never on each other (the hub must not know device tasks; a device
//! task must not know how the hub routes).

use rumqttc::{AsyncClient, QoS};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::decimal::Weight;
use crate::error::{Error, Result};

/// Good/bad answer to a scan, with the operator prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// true = good beep.
    #[serde(with = "good_bad")]
    pub feedback: bool,
    /// Short prompt for the operator.
    pub prompt: String,
}

mod good_bad {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if *v { "good" } else { "bad" })
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "good" => Ok(true),
            "bad" => Ok(false),
            _ => Err(serde::de::Error::custom("feedback must be good or bad")),
        }
    }
}

/// A message for one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MqttInbound {
    /// `devices/<id>/scan`.
    Scan {
        /// The scan text (AIM prefix, if any, still on).
        data: String,
        /// Its bytes.
        raw: Vec<u8>,
    },
    /// `devices/<id>/weight`.
    Weight(WeightMessage),
    /// `devices/<id>/state`: online (true) or offline.
    State(bool),
}

/// A network scale's reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightMessage {
    /// Value and unit.
    pub weight: Weight,
    /// Stable.
    pub stable: bool,
}

/// A device's end of the hub: what it receives, the broker's connection state and where its
/// feedback goes. Made by [`crate::mqtt::MqttHub::register`]; it carries the client rather than
/// the hub so that a device task needs nothing from `mqtt`.
#[derive(Debug)]
pub struct MqttDeviceLink {
    /// Messages for this device (bounded).
    pub rx: mpsc::Receiver<MqttInbound>,
    connected: watch::Receiver<bool>,
    client: AsyncClient,
    feedback_topic: String,
}

impl MqttDeviceLink {
    /// Built by the hub at registration.
    pub(crate) fn new(
        rx: mpsc::Receiver<MqttInbound>,
        connected: watch::Receiver<bool>,
        client: AsyncClient,
        feedback_topic: String,
    ) -> Self {
        MqttDeviceLink {
            rx,
            connected,
            client,
            feedback_topic,
        }
    }

    /// Broker connection state (true = connected), as seen from now on: a device task reads
    /// the current value, then waits for changes.
    pub fn connection(&self) -> watch::Receiver<bool> {
        let mut r = self.connected.clone();
        r.mark_unchanged();
        r
    }

    /// Publishes feedback to this device's `devices/<id>/feedback` topic (QoS 1).
    pub async fn publish_feedback(&self, f: &Feedback) -> Result<()> {
        publish_feedback(&self.client, &self.feedback_topic, f).await
    }
}

/// The one place feedback is put on the wire, for the hub and for a link alike.
pub(crate) async fn publish_feedback(
    client: &AsyncClient,
    topic: &str,
    f: &Feedback,
) -> Result<()> {
    let payload = serde_json::to_vec(f)?;
    client
        .publish(topic, QoS::AtLeastOnce, false, payload)
        .await
        .map_err(|e| Error::Mqtt(e.to_string()))
}
