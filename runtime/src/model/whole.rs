//! Whole numbers in JSON request bodies: JSON Schema calls `7.0` an
//! integer, so an optional integer field takes it as 7 (and refuses 7.5,
//! and numbers outside the type's range); nested structs are objects.

use serde::{Deserialize, Deserializer, de::Error};
use serde_json::Number;

/// 2^63, the first value past `i64`.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// A struct field that must be a JSON object (serde alone would also read
/// a struct from an array of its fields).
pub fn object<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<T, D::Error> {
    let map = serde_json::Map::deserialize(d)?;
    T::deserialize(serde_json::Value::Object(map)).map_err(D::Error::custom)
}

/// An optional field (`#[serde(default)]`) that must be a JSON object when
/// present: not an array (serde reads a struct from one too), not `null`.
pub fn opt_object<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    object(d).map(Some)
}

/// An optional `u64` field.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<Number>::deserialize(d)? else {
        return Ok(None);
    };
    match (n.as_u64(), n.as_f64()) {
        (Some(u), _) if u <= i64::MAX as u64 => Ok(Some(u)),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..TWO_63).contains(&f) => Ok(Some(f as u64)),
        _ => Err(D::Error::custom(format!("{n} is not a whole number from 0 to 2^63-1"))),
    }
}

/// An optional `i64` field.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<Number>::deserialize(d)? else {
        return Ok(None);
    };
    match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => Ok(Some(i)),
        (None, Some(f)) if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f) => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!("{n} is not a whole 64-bit number"))),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::opt_u64")]
        u: Option<u64>,
        #[serde(default, deserialize_with = "super::opt_i64")]
        i: Option<i64>,
    }

    fn parse(json: &str) -> Result<(Option<u64>, Option<i64>), String> {
        serde_json::from_str::<T>(json)
            .map(|t| (t.u, t.i))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_floats_are_integers_and_others_are_refused() {
        assert_eq!(parse(r#"{"u": 7, "i": -7}"#).unwrap(), (Some(7), Some(-7)));
        assert_eq!(parse(r#"{"u": 11648.0, "i": -2.0}"#).unwrap(), (Some(11648), Some(-2)));
        assert_eq!(parse(r#"{"u": null}"#).unwrap(), (None, None));
        assert_eq!(parse("{}").unwrap(), (None, None));
        assert!(parse(r#"{"u": 7.5}"#).is_err());
        assert!(parse(r#"{"u": -1}"#).is_err());
        assert!(parse(r#"{"u": 1e30}"#).is_err());
        assert!(parse(r#"{"u": 9223372036854775808}"#).is_err(), "past 2^63-1");
        assert!(parse(r#"{"i": 1e19}"#).is_err());
        assert!(parse(r#"{"u": "7"}"#).is_err());
    }
}
