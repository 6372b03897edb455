//! Rectangles.

mod shapes;

pub use shapes::{area, perimeter};

/// The total area of several `(w, h)` rectangles.
pub fn total_area(rects: &[(f64, f64)]) -> f64 {
    rects.iter().map(|&(w, h)| area(w, h)).sum()
}
