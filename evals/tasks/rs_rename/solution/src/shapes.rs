/// The area of a `w` by `h` rectangle.
pub fn rect_area(w: f64, h: f64) -> f64 {
    w * h
}

/// The perimeter of a `w` by `h` rectangle.
pub fn perimeter(w: f64, h: f64) -> f64 {
    2.0 * (w + h)
}
