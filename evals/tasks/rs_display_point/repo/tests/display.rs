use points::Point;

#[test]
fn displays_as_pair() {
    assert_eq!(Point { x: 1, y: -2 }.to_string(), "(1, -2)");
    assert_eq!(format!("{}", Point { x: 0, y: 0 }.offset(3, 4)), "(3, 4)");
}

#[test]
fn in_a_sentence() {
    let p = Point { x: 10, y: 20 };
    assert_eq!(format!("at {p}"), "at (10, 20)");
}
