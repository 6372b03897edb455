//! Rectangles.

mod shapes;

pub use shapes::{perimeter, rect_area};

/// The total area of several `(w, h)` rectangles.
pub fn total_area(rects: &[(f64, f64)]) -> f64 {
    rects.iter().map(|&(w, h)| rect_area(w, h)).sum()
}
