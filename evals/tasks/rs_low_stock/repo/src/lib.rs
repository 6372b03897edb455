//! A shop's stock: items with a quantity and a price in cents.

use std::collections::BTreeMap;
use std::fmt;

/// What went wrong with a stock change.
#[derive(Debug, PartialEq, Eq)]
pub enum StockError {
    /// The item is not stocked.
    Unknown(String),
    /// Fewer are in stock than were asked for.
    Short { name: String, have: u32, want: u32 },
}

impl fmt::Display for StockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StockError::Unknown(name) => write!(f, "unknown item {name}"),
            StockError::Short { name, have, want } => {
                write!(f, "only {have} of {name}, {want} wanted")
            }
        }
    }
}

/// One stocked item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub quantity: u32,
    pub price_cents: u64,
}

/// Items by name, kept in name order.
#[derive(Debug, Default)]
pub struct Inventory {
    items: BTreeMap<String, Item>,
}

impl Inventory {
    /// An empty inventory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `quantity` of an item, setting its price.
    pub fn stock(&mut self, name: &str, quantity: u32, price_cents: u64) {
        let item = self.items.entry(name.to_string()).or_insert(Item {
            quantity: 0,
            price_cents,
        });
        item.quantity += quantity;
        item.price_cents = price_cents;
    }

    /// Takes `quantity` of an item out of stock.
    pub fn sell(&mut self, name: &str, quantity: u32) -> Result<u64, StockError> {
        let item = self
            .items
            .get_mut(name)
            .ok_or_else(|| StockError::Unknown(name.to_string()))?;
        if item.quantity < quantity {
            return Err(StockError::Short {
                name: name.to_string(),
                have: item.quantity,
                want: quantity,
            });
        }
        item.quantity -= quantity;
        Ok(item.price_cents * u64::from(quantity))
    }

    /// How many of an item are in stock (0 when it is not stocked).
    pub fn quantity(&self, name: &str) -> u32 {
        self.items.get(name).map_or(0, |item| item.quantity)
    }

    /// The value of everything in stock, in cents.
    pub fn value(&self) -> u64 {
        self.items
            .values()
            .map(|item| item.price_cents * u64::from(item.quantity))
            .sum()
    }

    /// The names of the items with fewer than `threshold` in stock, in name order,
    /// each with how many to order to bring it up to `threshold`.
    pub fn low_stock(&self, threshold: u32) -> Vec<(String, u32)> {
        todo!()
    }
}
