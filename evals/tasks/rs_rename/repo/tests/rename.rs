use geometry::{perimeter, rect_area, total_area};

#[test]
fn rect_area_works() {
    assert_eq!(rect_area(2.0, 3.0), 6.0);
}

#[test]
fn others_still_work() {
    assert_eq!(total_area(&[(1.0, 2.0), (3.0, 4.0)]), 14.0);
    assert_eq!(perimeter(1.0, 2.0), 6.0);
}

#[test]
fn old_name_gone() {
    let old = format!("fn {}(", "area");
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/shapes.rs")).unwrap();
    assert!(!src.contains(&old), "src/shapes.rs still defines the old name");
}
