//! [`Patch`]: one field of a partial update, told apart three ways — absent (keep the
//! stored value), `null` (clear it) or a value (set it) — as JSON Merge Patch reads an
//! object's members (RFC 7396 §2). Every PATCH-like body in the API uses it.

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// Not sent: the stored value stays.
    #[default]
    Absent,
    /// Sent as `null`: cleared (back to its default, or missing if it is required).
    Null,
    Value(T),
}

impl<T> Patch<T> {
    /// This change laid over `base`: `base` where this is absent, else this.
    pub fn over(self, base: Patch<T>) -> Patch<T> {
        match self {
            Patch::Absent => base,
            sent => sent,
        }
    }

    /// The value, if one is set (absent and `null` both have none).
    pub fn value(&self) -> Option<&T> {
        match self {
            Patch::Value(value) => Some(value),
            Patch::Absent | Patch::Null => None,
        }
    }

    pub fn into_value(self) -> Option<T> {
        match self {
            Patch::Value(value) => Some(value),
            Patch::Absent | Patch::Null => None,
        }
    }

    /// Whether the field was sent at all (`null` included).
    pub fn is_sent(&self) -> bool {
        !matches!(self, Patch::Absent)
    }
}

impl<T> From<Option<T>> for Patch<T> {
    /// A stored optional value as a patch: set, or cleared.
    fn from(value: Option<T>) -> Self {
        value.map_or(Patch::Null, Patch::Value)
    }
}

/// Only a member that is present reaches this (`#[serde(default)]` makes a missing one
/// [`Patch::Absent`]), so `null` here means "clear".
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(Patch::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Body {
        #[serde(default)]
        name: Patch<String>,
    }

    #[test]
    fn absent_null_and_values_are_told_apart() {
        let parse = |json: &str| serde_json::from_str::<Body>(json).unwrap().name;
        assert_eq!(parse("{}"), Patch::Absent);
        assert_eq!(parse(r#"{"name": null}"#), Patch::Null);
        assert_eq!(parse(r#"{"name": "x"}"#), Patch::Value("x".to_owned()));
    }

    #[test]
    fn a_change_lays_over_its_base() {
        let base = Patch::Value(1);
        assert_eq!(Patch::Absent.over(base.clone()), base);
        assert_eq!(Patch::Null.over(base.clone()), Patch::Null);
        assert_eq!(Patch::Value(2).over(base), Patch::Value(2));
        assert_eq!(Patch::Value(2).value(), Some(&2));
        assert!(!Patch::<u8>::Absent.is_sent() && Patch::<u8>::Null.is_sent());
    }
}
