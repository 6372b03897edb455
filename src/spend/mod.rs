//! Spend: prices, the ledger of every request, and reports of what was spent and saved.

pub mod ledger;
pub mod prices;
pub mod report;

pub use ledger::{Ledger, LedgerError, SpendRow, now_ms, start_of_day_ms};
pub use prices::{Price, PriceTable};
