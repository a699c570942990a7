//! The point of sale's rules, pure (pos-api.md): what a cart costs (`pricing`), what is still due
//! once tenders are applied (`balance`), and how a card payment's attempt may move (`card`). The
//! store's POS transactions call these with data read in the same transaction; nothing here does
//! I/O.
//!
//! Money is an integer in minor units of the register's currency everywhere; percents are exact
//! decimals ([`Percent`]); every rounding is half away from zero to the minor unit unless a rule
//! says otherwise.

pub mod balance;
pub mod card;
pub mod percent;
pub mod pricing;

pub use percent::Percent;
