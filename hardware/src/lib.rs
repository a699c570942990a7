//! Device drivers and transports: serial, TCP, USB line printer and MQTT; scanner framing, scale
//! protocols, printer status and the payment-terminal protocol; plus byte-exact device simulators
//! used by the tests and by `wms-edge demo`. Knows nothing of orders or stock: it turns bytes into
//! typed device inputs and typed commands into bytes.

pub mod decimal;
pub mod error;
pub mod profiles;

pub use decimal::{Decimal, Weight};
pub use error::{Error, Result};
pub mod protocol;
