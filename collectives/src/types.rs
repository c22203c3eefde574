//! Ranks, element types and the data-type tags that travel in frame headers.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind};
use crate::kernels::Kernels;

/// A rank: the index of a process in a communicator, `0..size`.
pub type Rank = usize;

/// The element types fccl moves and reduces, numbered as NCCL numbers `ncclDataType_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DataType {
    /// `i8`
    Int8 = 0,
    /// `u8`
    Uint8 = 1,
    /// `i32`
    Int32 = 2,
    /// `u32`
    Uint32 = 3,
    /// `i64`
    Int64 = 4,
    /// `u64`
    Uint64 = 5,
    /// `half::f16`
    Float16 = 6,
    /// `f32`
    Float32 = 7,
    /// `f64`
    Float64 = 8,
    /// `half::bf16`
    Bfloat16 = 9,
}

impl DataType {
    /// Every data type, in NCCL's order.
    pub const ALL: [DataType; 10] = [
        DataType::Int8,
        DataType::Uint8,
        DataType::Int32,
        DataType::Uint32,
        DataType::Int64,
        DataType::Uint64,
        DataType::Float16,
        DataType::Float32,
        DataType::Float64,
        DataType::Bfloat16,
    ];

    /// The size of one element in bytes.
    pub const fn size(self) -> usize {
        match self {
            DataType::Int8 | DataType::Uint8 => 1,
            DataType::Float16 | DataType::Bfloat16 => 2,
            DataType::Int32 | DataType::Uint32 | DataType::Float32 => 4,
            DataType::Int64 | DataType::Uint64 | DataType::Float64 => 8,
        }
    }

    /// The short name used on the command line and in JSON (`f32`, `bf16`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            DataType::Int8 => "i8",
            DataType::Uint8 => "u8",
            DataType::Int32 => "i32",
            DataType::Uint32 => "u32",
            DataType::Int64 => "i64",
            DataType::Uint64 => "u64",
            DataType::Float16 => "f16",
            DataType::Float32 => "f32",
            DataType::Float64 => "f64",
            DataType::Bfloat16 => "bf16",
        }
    }

    /// The data type with NCCL number `code`, if there is one.
    pub fn from_code(code: u8) -> Option<DataType> {
        DataType::ALL.get(usize::from(code)).copied()
    }

    /// Whether the type is a floating-point type.
    pub const fn is_float(self) -> bool {
        matches!(
            self,
            DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Bfloat16
        )
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DataType {
    type Err = Error;

    /// Parses `f32`, `float32`, `float`, `bf16`, `int8` and so on.
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = match s.to_ascii_lowercase().as_str() {
            "i8" | "int8" | "char" => DataType::Int8,
            "u8" | "uint8" => DataType::Uint8,
            "i32" | "int32" | "int" => DataType::Int32,
            "u32" | "uint32" => DataType::Uint32,
            "i64" | "int64" => DataType::Int64,
            "u64" | "uint64" => DataType::Uint64,
            "f16" | "float16" | "half" => DataType::Float16,
            "f32" | "float32" | "float" => DataType::Float32,
            "f64" | "float64" | "double" => DataType::Float64,
            "bf16" | "bfloat16" => DataType::Bfloat16,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "unknown data type '{s}' (expected one of i8 u8 i32 u32 i64 u64 f16 f32 f64 bf16)"
                    ),
                ));
            }
        };
        Ok(t)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A type that collectives can move and reduce.
///
/// Implemented for `i8, u8, i32, u32, i64, u64, half::f16, f32, f64, half::bf16`; sealed,
/// because the wire format and the reduction kernels are defined for exactly these.
pub trait Element:
    bytemuck::Pod + PartialEq + fmt::Debug + Send + Sync + 'static + sealed::Sealed + Kernels
{
    /// The tag of this type in frame headers and the C API.
    const DTYPE: DataType;

    /// Converts from `f64` (rounding or truncating as `as` does); used for test and bench data.
    fn from_f64(v: f64) -> Self;

    /// Converts to `f64`; used to compare results within a tolerance.
    fn to_f64(self) -> f64;
}

macro_rules! element_primitive {
    ($($t:ty => $d:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DataType = DataType::$d;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            fn from_f64(v: f64) -> Self { v as $t }
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn to_f64(self) -> f64 { self as f64 }
        }
    )*};
}

element_primitive!(i8 => Int8, u8 => Uint8, i32 => Int32, u32 => Uint32, i64 => Int64,
    u64 => Uint64, f32 => Float32, f64 => Float64);

impl sealed::Sealed for half::f16 {}
impl Element for half::f16 {
    const DTYPE: DataType = DataType::Float16;
    fn from_f64(v: f64) -> Self {
        half::f16::from_f64(v)
    }
    fn to_f64(self) -> f64 {
        half::f16::to_f64(self)
    }
}

impl sealed::Sealed for half::bf16 {}
impl Element for half::bf16 {
    const DTYPE: DataType = DataType::Bfloat16;
    fn from_f64(v: f64) -> Self {
        half::bf16::from_f64(v)
    }
    fn to_f64(self) -> f64 {
        half::bf16::to_f64(self)
    }
}
