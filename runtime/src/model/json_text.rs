//! JSON kept as text (inputs, outputs, errors as stored) but sent as JSON:
//! `"input": {"n": 10}`, not `"input": "{\"n\": 10}"`. Text that is not
//! JSON (never written by Cairn) is sent as a string.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

fn value_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A `String` field holding JSON text.
pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    value_of(text).serialize(s)
}

/// Reads any JSON value back into its text.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Value::deserialize(d)?.to_string())
}

/// An `Option<String>` field holding JSON text (absent: `null`).
pub mod opt {
    use super::*;

    /// Writes the text as the JSON it holds, or `null`.
    pub fn serialize<S: Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        text.as_deref().map(value_of).serialize(s)
    }

    /// Reads any JSON value back into its text (`null`: none).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<Value>::deserialize(d)?.map(|v| v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "super")]
        input: String,
        #[serde(with = "super::opt")]
        output: Option<String>,
    }

    #[test]
    fn json_text_travels_as_json_and_comes_back_as_text() {
        let t = T {
            input: r#"{"n":10}"#.into(),
            output: None,
        };
        let sent = serde_json::to_value(&t).unwrap();
        assert_eq!(sent, serde_json::json!({"input": {"n": 10}, "output": null}));
        assert_eq!(serde_json::from_value::<T>(sent).unwrap(), t);
    }
}
