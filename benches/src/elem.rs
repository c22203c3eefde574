//! The element types the harness can run, with the exact ranges it keeps its data in.

use fccl_collectives::Element;
use half::{bf16, f16};

/// An [`Element`] with what the checker needs: wrapping conversion from exact integers and
/// the range of integers the type (and every partial result) holds exactly.
pub trait BenchElem: Element {
    /// Moved data (no reduction) is `0..MOVE_MOD`, all exactly representable and non-negative.
    const MOVE_MOD: i128;
    /// Reduced data keeps every partial sum at or below this, so sums are exact.
    const RED_LIMIT: i128;
    /// Relative tolerance for an `Avg` whose exact quotient is not an integer (one rounding).
    const REL_TOL: f64;

    /// `v` as this type: integers wrap modulo their width as `as` does, floats round.
    fn from_int(v: i128) -> Self;

    /// The value as an exact integer, for integer types; `None` for floats.
    fn as_int(self) -> Option<i128>;
}

macro_rules! int_elem {
    ($($t:ty => $move_mod:expr, $limit:expr);* $(;)?) => {$(
        impl BenchElem for $t {
            const MOVE_MOD: i128 = $move_mod;
            const RED_LIMIT: i128 = $limit;
            const REL_TOL: f64 = 0.0;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            fn from_int(v: i128) -> Self {
                v as $t
            }
            fn as_int(self) -> Option<i128> {
                Some(i128::from(self))
            }
        }
    )*};
}

int_elem! {
    i8 => 128, 127;
    u8 => 256, 255;
    i32 => 1 << 20, 1 << 30;
    u32 => 1 << 20, 1 << 30;
    i64 => 1 << 20, 1 << 40;
    u64 => 1 << 20, 1 << 40;
}

macro_rules! float_elem {
    ($($t:ty => $move_mod:expr, $limit:expr, $tol:expr, $conv:expr);* $(;)?) => {$(
        impl BenchElem for $t {
            const MOVE_MOD: i128 = $move_mod;
            const RED_LIMIT: i128 = $limit;
            const REL_TOL: f64 = $tol;
            #[allow(clippy::cast_precision_loss)]
            fn from_int(v: i128) -> Self {
                let conv: fn(f64) -> $t = $conv;
                conv(v as f64)
            }
            fn as_int(self) -> Option<i128> {
                None
            }
        }
    )*};
}

float_elem! {
    f16 => 2048, 2048, 1.0 / 1024.0, f16::from_f64;
    bf16 => 256, 256, 1.0 / 128.0, bf16::from_f64;
    f32 => 1 << 20, 1 << 24, 1.0 / 8_388_608.0, |v| v as f32;
    f64 => 1 << 20, 1 << 40, 1.0 / 4_503_599_627_370_496.0, |v| v;
}

/// Runs `$body` with `$t` bound to the Rust type of the [`fccl_collectives::DataType`] `$dtype`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            fccl_collectives::DataType::Int8 => {
                type $t = i8;
                $body
            }
            fccl_collectives::DataType::Uint8 => {
                type $t = u8;
                $body
            }
            fccl_collectives::DataType::Int32 => {
                type $t = i32;
                $body
            }
            fccl_collectives::DataType::Uint32 => {
                type $t = u32;
                $body
            }
            fccl_collectives::DataType::Int64 => {
                type $t = i64;
                $body
            }
            fccl_collectives::DataType::Uint64 => {
                type $t = u64;
                $body
            }
            fccl_collectives::DataType::Float16 => {
                type $t = half::f16;
                $body
            }
            fccl_collectives::DataType::Float32 => {
                type $t = f32;
                $body
            }
            fccl_collectives::DataType::Float64 => {
                type $t = f64;
                $body
            }
            fccl_collectives::DataType::Bfloat16 => {
                type $t = half::bf16;
                $body
            }
        }
    };
}
