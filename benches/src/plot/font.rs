//! The one font of the plots, embedded in the binary so that drawing needs no system
//! fonts: DejaVu Sans from the `dejavu` crate (Bitstream Vera licence with DejaVu's
//! changes in the public domain; free to embed and redistribute), rasterised by ab_glyph.

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

/// The family every text of a plot names; [`register`] maps it to DejaVu Sans.
pub(super) const FAMILY: &str = "sans-serif";

/// Registers the embedded font with plotters under [`FAMILY`], once per process; plotters
/// finds no font at all before this.
pub(super) fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "the embedded DejaVu Sans is not a font plotters can read".to_string())
        })
        .clone()
}
