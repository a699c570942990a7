//! Device drivers and transports: serial, TCP, USB line printer and MQTT; scanner framing, scale
//! protocols, printer status and the payment-terminal protocol; plus byte-exact device simulators
//! used by the tests and by `wms-edge demo`. Knows nothing of orders or stock: it turns bytes into
//! typed device inputs and typed commands into bytes.
//!
//! Start devices with [`device::spawn`] and a [`device::DeviceContext`]; read their state from
//! the `watch` receivers; stop them by cancelling the context's token.

pub mod decimal;
pub mod device;
pub mod error;
pub mod link;
pub mod mqtt;
pub mod profiles;
pub mod protocol;
#[cfg(feature = "sim")]
pub mod sim;
pub mod spool;
pub mod status;
pub mod transport;

pub use decimal::{Decimal, Weight};
pub use device::{spawn, Device, DeviceConfig, DeviceContext, Scan};
pub use error::{Error, Result};
pub use status::{DeviceState, DeviceStatus, KindStatus, PrinterStatus};
pub use tokio_util::sync::CancellationToken;
