//! The stock layer: the inventory ledger and the stock projection it maintains. Every on-hand
//! change is booked here; nothing here knows why (orders, workflows) beyond the reason and
//! reference it is given.

pub mod ledger;
