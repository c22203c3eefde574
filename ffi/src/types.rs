//! Data types and reduction operators, numbered as NCCL numbers `ncclDataType_t` and
//! `ncclRedOp_t`. Both are `int`s in C, so that any value a caller passes is well defined
//! in Rust; unknown values are `FCCL_ERR_INVALID_ARGUMENT`.

use std::ffi::c_int;

use fccl::{DataType, ReduceOp};

use crate::error::Fail;

/// The element type of a buffer (`FCCL_INT8` ... `FCCL_BFLOAT16`, NCCL's numbers).
#[allow(non_camel_case_types)]
pub type fccl_datatype = c_int;

/// `int8_t`.
pub const FCCL_INT8: fccl_datatype = 0;
/// `char`, the same as `FCCL_INT8` (as in NCCL).
pub const FCCL_CHAR: fccl_datatype = 0;
/// `uint8_t`.
pub const FCCL_UINT8: fccl_datatype = 1;
/// `int32_t`.
pub const FCCL_INT32: fccl_datatype = 2;
/// `int`, the same as `FCCL_INT32` (as in NCCL).
pub const FCCL_INT: fccl_datatype = 2;
/// `uint32_t`.
pub const FCCL_UINT32: fccl_datatype = 3;
/// `int64_t`.
pub const FCCL_INT64: fccl_datatype = 4;
/// `uint64_t`.
pub const FCCL_UINT64: fccl_datatype = 5;
/// IEEE 754 binary16, stored as 16 bits (`uint16_t` or `_Float16`).
pub const FCCL_FLOAT16: fccl_datatype = 6;
/// `float`.
pub const FCCL_FLOAT32: fccl_datatype = 7;
/// `double`.
pub const FCCL_FLOAT64: fccl_datatype = 8;
/// bfloat16 (the high half of a `float`), stored as 16 bits (`uint16_t`).
pub const FCCL_BFLOAT16: fccl_datatype = 9;
/// The number of data types.
pub const FCCL_NUM_TYPES: fccl_datatype = 10;

/// A reduction operator (NCCL's numbers).
#[allow(non_camel_case_types)]
pub type fccl_redop = c_int;

/// Sum (integers wrap on overflow).
pub const FCCL_SUM: fccl_redop = 0;
/// Product (integers wrap on overflow).
pub const FCCL_PROD: fccl_redop = 1;
/// Maximum.
pub const FCCL_MAX: fccl_redop = 2;
/// Minimum.
pub const FCCL_MIN: fccl_redop = 3;
/// Sum divided by the number of terms; integers truncate toward zero.
pub const FCCL_AVG: fccl_redop = 4;
/// The number of operators.
pub const FCCL_NUM_OPS: fccl_redop = 5;

/// The data type numbered `code`.
pub(crate) fn data_type(code: fccl_datatype) -> Result<DataType, Fail> {
    u8::try_from(code)
        .ok()
        .and_then(DataType::from_code)
        .ok_or_else(|| Fail::invalid(format!("{code} is not an fccl_datatype (0..=9)")))
}

/// The operator numbered `code`.
pub(crate) fn reduce_op(code: fccl_redop) -> Result<ReduceOp, Fail> {
    u8::try_from(code)
        .ok()
        .and_then(ReduceOp::from_code)
        .ok_or_else(|| Fail::invalid(format!("{code} is not an fccl_redop (0..=4)")))
}

/// Runs `$body` with `$t` the Rust element type of data type `$dt`.
macro_rules! with_element {
    ($dt:expr, $t:ident => $body:expr) => {
        match $dt {
            fccl::DataType::Int8 => {
                type $t = i8;
                $body
            }
            fccl::DataType::Uint8 => {
                type $t = u8;
                $body
            }
            fccl::DataType::Int32 => {
                type $t = i32;
                $body
            }
            fccl::DataType::Uint32 => {
                type $t = u32;
                $body
            }
            fccl::DataType::Int64 => {
                type $t = i64;
                $body
            }
            fccl::DataType::Uint64 => {
                type $t = u64;
                $body
            }
            fccl::DataType::Float16 => {
                type $t = half::f16;
                $body
            }
            fccl::DataType::Float32 => {
                type $t = f32;
                $body
            }
            fccl::DataType::Float64 => {
                type $t = f64;
                $body
            }
            fccl::DataType::Bfloat16 => {
                type $t = half::bf16;
                $body
            }
        }
    };
}
pub(crate) use with_element;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_nccl_numbers() {
        assert_eq!(data_type(FCCL_BFLOAT16).unwrap(), DataType::Bfloat16);
        assert_eq!(data_type(FCCL_FLOAT16).unwrap(), DataType::Float16);
        assert_eq!(reduce_op(FCCL_AVG).unwrap(), ReduceOp::Avg);
        for bad in [-1, FCCL_NUM_TYPES, 256 + FCCL_INT32] {
            assert!(data_type(bad).is_err());
        }
        for bad in [-1, FCCL_NUM_OPS, 256] {
            assert!(reduce_op(bad).is_err());
        }
    }
}
