use stock::{Inventory, StockError};

fn shop() -> Inventory {
    let mut inv = Inventory::new();
    inv.stock("pear", 2, 50);
    inv.stock("apple", 10, 30);
    inv.stock("fig", 0, 120);
    inv.stock("kiwi", 5, 40);
    inv
}

#[test]
fn selling_takes_from_stock() {
    let mut inv = shop();
    assert_eq!(inv.sell("apple", 4), Ok(120));
    assert_eq!(inv.quantity("apple"), 6);
    assert_eq!(inv.sell("plum", 1), Err(StockError::Unknown("plum".into())));
}

#[test]
fn low_stock_lists_what_to_order_in_name_order() {
    let inv = shop();
    assert_eq!(
        inv.low_stock(5),
        vec![("fig".to_string(), 5), ("pear".to_string(), 3)]
    );
    assert_eq!(
        inv.low_stock(6),
        vec![("fig".to_string(), 6), ("kiwi".to_string(), 1), ("pear".to_string(), 4)]
    );
}

#[test]
fn nothing_is_low_under_a_zero_threshold() {
    assert!(shop().low_stock(0).is_empty());
    assert!(Inventory::new().low_stock(3).is_empty());
}
