//! The workflow layer: the transactions of the floor's stations, built from the orders and stock
//! layers below. `station` runs a station's input end to end (the pure workflow in
//! `domain::station` decides, the commands are carried out here in the same transaction); `pick`,
//! `pack`, `receive` and `count` carry out their station's commands; `print` is the durable
//! print-job queue every workflow prints through; `putbacks` lists the totes waiting for
//! put-back. A new domain's transactions (the point of sale)
//! go in a module of their own beside these.

pub mod count;
pub mod pack;
pub mod people;
pub mod pick;
pub mod pos;
pub mod print;
pub mod putbacks;
pub mod receive;
pub mod station;
mod view;

use wms_labels::model as lm;

/// What the workflows need to know about the site besides the station: its id and the "FROM"
/// block of shipping labels.
#[derive(Debug, Clone, Default)]
pub struct SiteInfo {
    pub site_id: String,
    pub ship_from: lm::Address,
}
